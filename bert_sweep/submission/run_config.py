"""Turn a Candidate into the RunConfig of each rerun stage (accuracy, then performance).

Why two stages instead of one Pipeline run: the performance run's `target_qps` should come from a
measured rate, and the best measurement available is the full 10,833-sample accuracy pass just
made on this machine with the same settings. A short warm-up is noisy; a target below the real
rate makes the Offline query end before 600 s (INVALID), a target far above it makes the run
needlessly long. So the accuracy stage runs first, and its rate sets the performance stage's
target_qps.

Both stages use the submission profile from conf/profile/submission.yaml (official min duration
and sample counts from mlperf.conf, whole dataset) and `reuse_accuracy=false`, so the accuracy
log packaged is the one this rerun wrote.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bert_sweep.config.schema import BackendConfig, ProfileConfig, RunConfig
from bert_sweep.errors import ConfigError
from bert_sweep.submission.candidates import Candidate

SUBMISSION_PROFILE = "submission"


def _compose(overrides: list[str], output_dir: Path):
    """Compose conf/config.yaml with overrides as the CLI does (paths resolved, hydra removed)."""
    from bert_sweep.config.compose import compose, task_config

    return task_config(compose(overrides, job_name="submit"), output_dir)


def config_from_overrides(overrides: list[str], output_dir: Path) -> RunConfig:
    """RunConfig of conf/config.yaml plus Hydra overrides (group choices allowed)."""
    from bert_sweep.config.validate import validate

    return validate(_compose(overrides, output_dir))


def _backend_schema(target: str) -> type[BackendConfig]:
    """The registered backend config class whose `_target_` is `target`."""
    from bert_sweep.backends.registry import by_target, names

    cls = by_target(target)
    if cls is None:
        raise ConfigError(
            f"backend._target_={target!r}: not a registered backend (known: {names()})"
        )
    return cls


def config_from_dict(data: dict[str, Any], overrides: list[str] | None = None) -> RunConfig:
    """RunConfig from a resolved config (results.json `config`), plus key=value overrides."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from bert_sweep.config.validate import validate

    backend = data.get("backend") if isinstance(data, dict) else None
    if not isinstance(backend, dict) or not isinstance(backend.get("_target_"), str):
        raise ConfigError("candidate config: expected a resolved config with backend._target_")
    try:
        base = OmegaConf.structured(RunConfig)
        base.backend = OmegaConf.structured(_backend_schema(backend["_target_"]))
        merged = OmegaConf.merge(base, data)
        merged.backend._target_ = _backend_schema(backend["_target_"])._target_
        for item in overrides or []:
            if item.lstrip("+~").split("=", 1)[0] in ("backend", "model", "dataset", "device"):
                raise ConfigError(
                    f"candidate.overrides: {item}: a group choice cannot change a finished run's "
                    "config; set single keys (e.g. backend.batch_size=64)"
                )
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist([item.lstrip("+")]))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"candidate config: {str(exc).splitlines()[0]}") from None
    return validate(merged)


def candidate_config(candidate: Candidate, overrides: list[str], output_dir: Path) -> RunConfig:
    """The candidate's RunConfig with the user's extra overrides."""
    if candidate.config is not None:
        return config_from_dict(candidate.config, overrides)
    return config_from_overrides([*(candidate.overrides or []), *overrides], output_dir)


def submission_profile() -> ProfileConfig:
    """conf/profile/submission.yaml as a ProfileConfig (the official rules)."""
    from omegaconf import OmegaConf

    cfg = _compose([f"profile={SUBMISSION_PROFILE}"], Path("."))
    profile = OmegaConf.to_object(cfg.profile)
    if not isinstance(profile, ProfileConfig) or not profile.valid_for_submission:
        raise ConfigError(f"profile={SUBMISSION_PROFILE}: expected valid_for_submission: true")
    return profile


def stage_config(
    base: RunConfig,
    stage: str,
    run_dir: Path,
    profile: ProfileConfig,
    target_qps: float | None = None,
    root_dir: Path | None = None,
) -> RunConfig:
    """The candidate under the submission profile, for one stage ("accuracy" | "performance")."""
    if stage not in ("accuracy", "performance"):
        raise ConfigError(f"stage={stage!r}: expected accuracy or performance")
    staged_profile = dataclasses.replace(
        profile, accuracy=stage == "accuracy", performance=stage == "performance"
    )
    scenario = base.scenario
    if target_qps is not None:
        scenario = dataclasses.replace(scenario, target_qps=float(target_qps))
    paths = dataclasses.replace(
        base.paths,
        output_dir=str(run_dir),
        root_dir=str(root_dir) if root_dir is not None else base.paths.root_dir,
    )
    return dataclasses.replace(
        base, profile=staged_profile, scenario=scenario, paths=paths, reuse_accuracy=False
    )
