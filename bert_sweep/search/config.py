"""Schema of the Optuna sweeper's settings (`hydra.sweeper.*`), i.e. `hydra/sweeper=bert_optuna`.

Kept apart from the sweeper so that Hydra's plugin scan (which imports the plugin module on every
run, single runs included) only loads this dataclass, not Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bert_sweep.errors import field_error

SWEEPER_TARGET = "hydra_plugins.bert_sweep_search.bert_optuna_sweeper.BertOptunaSweeper"


@dataclass
class BertOptunaSweeperConf:
    """Settings of one search; see conf/search/*.yaml for presets and docs/ for the guide."""

    _target_: str = SWEEPER_TARGET
    study_name: str = "bert_sweep"
    # Optuna RDB URL shared by every worker; null = sqlite file optuna.db in the sweep dir.
    # Relative sqlite paths are taken from the launch directory.
    storage: str | None = None
    n_trials: int = 20  # jobs run (measured or failed; free duplicates not counted), all workers
    sampler: str = "tpe"  # tpe (with constraints) | random
    n_startup_trials: int = 8  # TPE: random trials before the model is used
    seed: int | None = None  # sampler seed; give parallel workers different seeds
    baseline: bool = True  # first trial of a new study = the base config (for comparison)
    enqueue: list[Any] = field(default_factory=list)  # [{key: value}] to try first (new study)
    reuse_results: bool = True  # a duplicate proposal (same resolved config) reuses the result
    max_failure_rate: float = 0.5  # stop when failed/finished trials exceeds this ...
    min_trials_for_failure_rate: int = 4  # ... once this many trials have finished
    heartbeat_interval: int = 30  # s between a running trial's heartbeats in the storage
    grace_period: int = 120  # s without heartbeat before another worker fails the trial
    plots: bool = True  # PNG plots in <sweep dir>/plots (needs matplotlib)
    space: dict[str, Any] = field(default_factory=dict)  # the search space (search/space.py)

    def __post_init__(self) -> None:
        p = "hydra.sweeper."
        if not self.study_name or not str(self.study_name).strip():
            raise field_error(p + "study_name", self.study_name, "a non-empty name")
        if self.n_trials < 1:
            raise field_error(p + "n_trials", self.n_trials, "an integer >= 1")
        if self.sampler not in ("tpe", "random"):
            raise field_error(p + "sampler", self.sampler, "tpe or random")
        if self.n_startup_trials < 0:
            raise field_error(p + "n_startup_trials", self.n_startup_trials, "an integer >= 0")
        if not 0.0 <= self.max_failure_rate <= 1.0:
            raise field_error(p + "max_failure_rate", self.max_failure_rate, "a number in [0, 1]")
        if self.min_trials_for_failure_rate < 1:
            raise field_error(
                p + "min_trials_for_failure_rate", self.min_trials_for_failure_rate, "an int >= 1"
            )
        if self.heartbeat_interval < 1:
            raise field_error(p + "heartbeat_interval", self.heartbeat_interval, "seconds >= 1")
        if self.grace_period <= self.heartbeat_interval:
            raise field_error(
                p + "grace_period",
                self.grace_period,
                f"seconds > heartbeat_interval ({self.heartbeat_interval})",
            )
        if not isinstance(self.enqueue, list) or not all(isinstance(e, dict) for e in self.enqueue):
            raise field_error(p + "enqueue", self.enqueue, "a list of {key: value} mappings")
