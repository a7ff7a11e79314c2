"""What tracking reads from the Hydra config a callback receives (task config + `hydra` node).

Kept apart from the callback so the naming rules (experiment, sweep folder, job folder) are in one
place and testable with a composed config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from bert_sweep.tracking.settings import TrackingSettings

# Where a sweeper keeps its study name (an Optuna-style sweeper config, or bert_sweep's search).
STUDY_NAME_KEYS = ("hydra.sweeper.study_name", "search.study_name")


def _select(config: DictConfig, key: str) -> Any:
    try:
        return OmegaConf.select(config, key, throw_on_resolution_failure=False)
    except Exception:  # a broken interpolation elsewhere must not stop tracking
        return None


def is_multirun(config: DictConfig) -> bool:
    from hydra.types import RunMode

    return _select(config, "hydra.mode") == RunMode.MULTIRUN


def sweep_dir(config: DictConfig) -> Path:
    return Path(str(_select(config, "hydra.sweep.dir"))).absolute()


def job_dir(config: DictConfig) -> Path:
    """The job's output folder (Hydra sets hydra.runtime.output_dir before on_job_start)."""
    value = _select(config, "hydra.runtime.output_dir") or _select(config, "hydra.run.dir")
    return Path(str(value)).absolute()


def job_num(config: DictConfig) -> int | None:
    value = _select(config, "hydra.job.num")
    return value if isinstance(value, int) else None


def overrides(config: DictConfig) -> str:
    """The job's own command-line overrides, e.g. `backend=noop,batch=16`."""
    items = _select(config, "hydra.overrides.task")
    return ",".join(str(i) for i in items) if isinstance(items, ListConfig) else ""


def sweep_overrides(config: DictConfig) -> str:
    """The sweep's command line overrides as given (`batch=16,32`) from the sweep's multirun.yaml
    when Hydra wrote one, else this job's own overrides."""
    folder = sweep_dir(config)
    saved = folder / "multirun.yaml"
    if saved.is_file():
        try:
            items = OmegaConf.load(saved).hydra.overrides.task
            return " ".join(str(i) for i in items)
        except Exception:
            pass
    return overrides(config)


def experiment_name(settings: TrackingSettings, config: DictConfig, multirun: bool) -> str:
    """The explicit name if set; else a sweep's study name, else `sweep <sweep folder name>`;
    single runs share `settings.single_run_experiment`."""
    if settings.experiment:
        return settings.experiment
    if not multirun:
        return settings.single_run_experiment
    for key in STUDY_NAME_KEYS:
        study = _select(config, key)
        if isinstance(study, str) and study.strip():
            return study.strip()
    return f"sweep {sweep_dir(config).name}"


def task_config(config: DictConfig) -> dict:
    """The job's config without the `hydra` node, resolved key by key (an unresolvable value is
    recorded as such instead of losing the whole record)."""
    out: dict[str, Any] = {}
    for key in config:
        if key == "hydra":
            continue
        try:
            node = config[key]
            if isinstance(node, DictConfig | ListConfig):
                out[key] = OmegaConf.to_container(node, resolve=True)
            else:
                out[key] = node
        except Exception as exc:
            out[key] = f"<unresolved: {type(exc).__name__}>"
    return out


def resolved_yaml(task: dict) -> str:
    return OmegaConf.to_yaml(OmegaConf.create(task))
