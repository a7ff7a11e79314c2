"""Which configuration to submit: an explicit run, the search's best trial, or MLflow's best run.

Every source ends as a `Candidate`: either the resolved config of a finished run (results.json's
`config`, the most faithful record of what ran) or the Hydra overrides the search stage wrote
for its best feasible trial. `run_config.py` turns either into a RunConfig for the rerun.

Sources (exactly one, see conf/submit.yaml):
- `run_dir`: a run folder holding results.json (a single run, or one job of a sweep).
- `sweep_dir` / `overrides_file`: the search stage's `best_overrides.yaml` (its record: the
  `overrides` list with the trial's number, rate and run folder; `.json` also read; a bare YAML
  list of override strings also works, with `best_trial.json` beside it when present).
- `mlflow_experiment`: the tracking store's best run with metric `feasible` = 1 by metric
  `samples_per_second`; its run folder is read from the run's tags/params.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bert_sweep.errors import AssetError, ConfigError
from bert_sweep.report.record import RESULTS_FILE, RunRecord
from bert_sweep.submission.config import CandidateConfig

BEST_OVERRIDES = ("best_overrides.yaml", "best_overrides.yml", "best_overrides.json")
BEST_TRIAL = "best_trial.json"
# Where a tracked run names its folder: tracking/callback.py tags each job with its job dir.
RUN_DIR_KEYS = ("run_dir", "bert_sweep.job_dir", "paths.output_dir")


@dataclass
class Candidate:
    """The configuration chosen for the submission, and where it came from."""

    source: str  # one line for people: "run dir ...", "search result ...", "MLflow run ..."
    config: dict[str, Any] | None = None  # resolved RunConfig as a dict (results.json "config")
    overrides: list[str] | None = None  # Hydra overrides of conf/config.yaml (search result)
    run_dir: Path | None = None  # the run that measured it, when known
    results: RunRecord | None = None  # that run's record
    samples_per_second: float | None = None  # its measured rate, when known (for the estimates)
    extra: dict[str, Any] = field(default_factory=dict)


def select_candidate(cfg: CandidateConfig) -> Candidate:
    """The candidate named by the config (exactly one source is set; CandidateConfig checks)."""
    if cfg.run_dir:
        return from_run_dir(Path(cfg.run_dir))
    if cfg.sweep_dir:
        return from_sweep_dir(Path(cfg.sweep_dir))
    if cfg.overrides_file:
        return from_overrides_file(Path(cfg.overrides_file))
    return from_mlflow(cfg.mlflow_experiment, cfg.tracking_uri)


def _rate(results: RunRecord | None) -> float | None:
    value = results.samples_per_second if results else None
    return value if value is not None and value > 0 else None


def from_run_dir(run_dir: Path) -> Candidate:
    """An explicit run: its record must show a finished run with its resolved config."""
    results = RunRecord.read(run_dir)  # RecordError (an AssetError): one line naming the file
    if not results.ok:
        why = results.error or f"status {results.status!r}"
        raise ConfigError(f"candidate.run_dir={run_dir}: the run did not finish ({why})")
    if not isinstance(results.config, dict):
        raise AssetError(f"{Path(run_dir) / RESULTS_FILE}: no resolved 'config' recorded")
    return Candidate(
        source=f"run dir {run_dir}",
        config=results.config,
        run_dir=Path(run_dir),
        results=results,
        samples_per_second=_rate(results),
    )


def _read_overrides(path: Path) -> tuple[list[str], dict[str, Any]]:
    """(overrides, the rest of the record): a plain YAML/JSON list, or the search stage's record
    (a mapping whose `overrides` is the list, beside `trial`, `samples_per_second`, `run_dir`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AssetError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml and json raise their own families
        raise AssetError(
            f"{path}: not valid {path.suffix[1:].upper()} ({type(exc).__name__})"
        ) from None
    record: dict[str, Any] = {}
    if isinstance(data, dict) and isinstance(data.get("overrides"), list):
        record, data = data, data["overrides"]
    if not isinstance(data, list) or not all(isinstance(x, str) and "=" in x for x in data):
        raise AssetError(f"{path}: expected a list of Hydra override strings such as batch=32")
    return list(data), record


def from_overrides_file(path: Path) -> Candidate:
    """The search's best overrides; best_trial.json beside it adds its run folder and rate."""
    overrides, trial = _read_overrides(path)
    trial_path = path.parent / BEST_TRIAL
    if not trial and trial_path.is_file():
        try:
            loaded = json.loads(trial_path.read_text(encoding="utf-8"))
            trial = loaded if isinstance(loaded, dict) else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            trial = {}
    run_dir = _trial_run_dir(trial)
    results = RunRecord.read(run_dir) if run_dir and (run_dir / RESULTS_FILE).is_file() else None
    rate = _rate(results) or _number(trial, ("samples_per_second", "value"))
    number = trial.get("number", trial.get("trial"))
    label = f" (trial {number})" if number is not None else ""
    return Candidate(
        source=f"search result {path}{label}",
        overrides=overrides,
        run_dir=run_dir,
        results=results,
        samples_per_second=rate,
        extra={"best_trial": trial} if trial else {},
    )


def from_sweep_dir(sweep_dir: Path) -> Candidate:
    """A search folder: its best_overrides.yaml (or .yml/.json)."""
    for name in BEST_OVERRIDES:
        if (Path(sweep_dir) / name).is_file():
            return from_overrides_file(Path(sweep_dir) / name)
    raise AssetError(
        f"candidate.sweep_dir={sweep_dir}: no {' / '.join(BEST_OVERRIDES)} "
        "(written by the search stage when a feasible trial exists)"
    )


def _number(data: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def _trial_run_dir(trial: dict[str, Any]) -> Path | None:
    for key in ("run_dir", "job_dir", "output_dir"):
        value = trial.get(key) or (trial.get("user_attrs") or {}).get(key)
        if isinstance(value, str) and value:
            return Path(value)
    return None


def _sqlite_path(uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


def from_mlflow(experiment: str, tracking_uri: str) -> Candidate:
    """The experiment's best feasible run (metric feasible = 1) by samples_per_second."""
    db = _sqlite_path(tracking_uri)
    if db is not None and not db.is_file():
        raise AssetError(f"candidate.tracking_uri={tracking_uri}: no MLflow store at {db}")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(
            "candidate.mlflow_experiment: mlflow is not installed "
            "(pip install bert_sweep[tracking])"
        ) from None
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ConfigError(f"candidate.mlflow_experiment={experiment!r}: no such experiment")
    runs = client.search_runs(
        [found.experiment_id],
        filter_string="metrics.feasible = 1",
        order_by=["metrics.samples_per_second DESC"],
        max_results=50,
    )
    for run in runs:
        if "samples_per_second" not in run.data.metrics:
            continue
        run_dir = _mlflow_run_dir(run.data.tags, run.data.params)
        if run_dir is None or not (run_dir / RESULTS_FILE).is_file():
            continue
        candidate = from_run_dir(run_dir)
        candidate.source = f"MLflow run {run.info.run_id} of experiment {experiment!r} ({run_dir})"
        candidate.extra["mlflow_run_id"] = run.info.run_id
        return candidate
    raise ConfigError(
        f"candidate.mlflow_experiment={experiment!r}: no feasible run (metric feasible = 1) "
        "with samples_per_second and a run folder on this machine"
    )


def _mlflow_run_dir(tags: dict[str, str], params: dict[str, str]) -> Path | None:
    for key in RUN_DIR_KEYS:
        for source in (tags, params):
            value = source.get(key)
            if value:
                text = value.strip()
                if text.startswith('"') and text.endswith('"'):
                    text = json.loads(text)  # tracking/record.py stores params as JSON scalars
                return Path(text)
    return None
