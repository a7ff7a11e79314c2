"""Typed config of the submission command (conf/submit.yaml) and its checks.

The schema is registered in Hydra's ConfigStore as `base_submit`, so conf/submit.yaml composes
onto it: a wrong type fails at composition, a bad value in `__post_init__` with one line naming
the field. Values are documented in conf/submit.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bert_sweep.errors import ConfigError, field_error

DIVISIONS = ("open", "closed")
# Folder names in the tree: the checker and git need no spaces, no leading dot, no slashes.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class CandidateConfig:
    """Where the configuration to submit comes from: exactly one of the four sources."""

    run_dir: str | None = None  # a run directory holding results.json
    sweep_dir: str | None = None  # a search result folder with best_overrides.yaml/.json
    overrides_file: str | None = None  # a best_overrides.yaml/.json file given directly
    mlflow_experiment: str | None = None  # best feasible run of this MLflow experiment
    tracking_uri: str = "sqlite:///mlflow.db"  # MLflow store of `mlflow_experiment`
    overrides: list[str] = field(default_factory=list)  # applied on top of the candidate's config

    def check(self) -> None:
        """Exactly one source; called by SubmitConfig (a default instance has none yet)."""
        given = [
            k
            for k in ("run_dir", "sweep_dir", "overrides_file", "mlflow_experiment")
            if getattr(self, k)
        ]
        if len(given) != 1:
            raise ConfigError(
                "candidate: expected exactly one of candidate.run_dir, candidate.sweep_dir, "
                f"candidate.overrides_file, candidate.mlflow_experiment (got {given or 'none'})"
            )
        for item in self.overrides:
            if not isinstance(item, str) or "=" not in item:
                raise field_error("candidate.overrides", item, "Hydra overrides such as key=value")


@dataclass
class SubmitConfig:
    candidate: CandidateConfig = field(default_factory=CandidateConfig)
    submitter: str = "bert_sweep"  # organization: the folder under open/ or closed/
    division: str = "open"  # open | closed (closed adds TEST01 and the accuracy target)
    version: str = "v6.1"  # submission checker version: v6.1 | v6.0 | v5.1
    system_name: str | None = None  # human system name; None = detected from the machine
    system_id: str | None = None  # results/<system_id>/ folder; None = derived from system_name
    system_type: str = "edge"  # BERT is an edge benchmark since v5.0
    status: str = "available"  # available | preview | rdi
    output_dir: str | None = None  # None = outputs/submissions/<timestamp>
    rerun: bool = True  # false: package the candidate run's own logs (must be a submission run)
    target_qps_margin: float = 1.05  # target_qps = accuracy-run rate x this (loadgen adds 10%)
    performance_attempts: int = 2  # a run that ends under 600 s is retried at the measured rate
    progress_interval_s: float = 30.0  # how often progress and the time left are printed
    system: dict[str, Any] = field(default_factory=dict)  # systems JSON fields to override
    measurements: dict[str, Any] = field(default_factory=dict)  # measurements.json overrides
    notes: str = ""  # free text added to the README files
    checker_path: str | None = None  # mlcommons/inference checkout: also run the official checker
    tarball: bool = True  # write mlperf_submission.tar.gz when validation passes

    def __post_init__(self) -> None:
        from bert_sweep.submission.versions import BERT_SYSTEM_TYPES, VALID_STATUSES, VERSIONS

        self.candidate.check()
        if self.division not in DIVISIONS:
            raise field_error("division", self.division, f"one of {list(DIVISIONS)}")
        if self.version not in VERSIONS:
            raise field_error("version", self.version, f"one of {sorted(VERSIONS)}")
        if not _NAME_RE.match(self.submitter or ""):
            raise field_error(
                "submitter", self.submitter, "a folder name: letters, digits, _ . + - (no spaces)"
            )
        if self.system_id is not None and not _NAME_RE.match(self.system_id):
            raise field_error(
                "system_id", self.system_id, "a folder name: letters, digits, _ . + - (no spaces)"
            )
        if self.system_name is not None and not self.system_name.strip():
            raise field_error("system_name", self.system_name, "a non-empty name or null")
        if self.system_type not in BERT_SYSTEM_TYPES:
            raise field_error(
                "system_type",
                self.system_type,
                f"one of {list(BERT_SYSTEM_TYPES)} (BERT is an edge benchmark)",
            )
        if self.status not in VALID_STATUSES:
            raise field_error("status", self.status, f"one of {list(VALID_STATUSES)}")
        if not 1.0 <= self.target_qps_margin <= 2.0:
            raise field_error("target_qps_margin", self.target_qps_margin, "a number in [1, 2]")
        if self.performance_attempts < 1:
            raise field_error("performance_attempts", self.performance_attempts, "an integer >= 1")
        if self.progress_interval_s <= 0:
            raise field_error("progress_interval_s", self.progress_interval_s, "seconds > 0")


def register_submit_config() -> None:
    """Register the schema so conf/submit.yaml's `defaults: [base_submit]` finds it."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="base_submit", node=SubmitConfig)
