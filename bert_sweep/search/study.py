"""Optuna study plumbing: storage, samplers, trial bookkeeping, dead-worker reaping, best trial.

Why each piece:
- RDBStorage with heartbeats: a worker killed with SIGKILL leaves its trial RUNNING; another
  worker (any machine) fails it once its heartbeat is older than the grace period. Workers on the
  same host do better: a trial whose recorded worker process no longer exists is failed at once,
  so re-running the command right after a kill resumes without waiting.
- Bookkeeping in user attributes (`outcome`, `constraints`, ...): Optuna's states alone cannot
  tell a job that failed (counts toward n_trials and the failure rate) from a trial interrupted
  by a kill (counts toward neither), nor a cached duplicate from a measured run.
- `study.best_trial` ignores constraints: the best trial is picked here, among feasible ones.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bert_sweep.errors import BertSweepError, ConfigError
from bert_sweep.locks import file_lock
from bert_sweep.storage_url import SQLITE_PREFIX, absolute_sqlite_url, sqlite_path

OUTCOME = "outcome"  # user attr: ok | cached | failed | cached_failed | interrupted | over_budget
# Outcomes that ran a job: they use up n_trials and make the failure rate. A cached duplicate
# costs nothing (no job) and an interrupted trial is re-done, so neither counts.
COUNTED = ("ok", "failed")
FAILED = ("failed", "cached_failed")
TRIED = ("ok", "cached", "failed", "cached_failed")  # a configuration with a known result
# Error kinds that repeat for the same config (a duplicate proposal reuses the failure).
DETERMINISTIC_ERRORS = ("ConfigError", "BackendUnavailableError", "AssetError")
SQLITE_TIMEOUT_S = 60  # wait this long for another worker's write lock


class SearchError(BertSweepError):
    """The search cannot go on (failure rate exceeded, storage unusable)."""


# -- storage ---------------------------------------------------------------------------------------
def storage_url(url: str | None, sweep_dir: Path, cwd: Path) -> str:
    """The storage URL to use: default sqlite file in the sweep dir; relative sqlite paths made
    absolute against the launch directory (so every worker and the dashboard agree)."""
    if not url:
        return f"{SQLITE_PREFIX}{(Path(sweep_dir) / 'optuna.db').resolve()}"
    return absolute_sqlite_url(url, Path(cwd))


@contextlib.contextmanager
def creation_lock(url: str) -> Iterator[None]:
    """Serialize study creation between workers on one host (sqlite); no-op for servers.

    Creating the sqlite schema and the study from two fresh processes at once can race; an
    exclusive lock next to the database file makes the first one create, the others load.
    """
    db = sqlite_path(url)
    if db is None:
        yield
        return
    with file_lock(db.with_name(db.name + ".lock")):
        yield


def make_storage(url: str, heartbeat_interval: int, grace_period: int):
    import optuna

    engine_kwargs = {}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
            )
    except Exception as exc:  # SQLAlchemy raises ArgumentError/OperationalError/ImportError
        first = " ".join(str(exc).split())[:200]
        raise ConfigError(
            f"hydra.sweeper.storage={url}: cannot open it as an Optuna RDB storage ({first})"
        ) from None


CONSTRAINT_NAMES = ("accuracy", "loadgen_valid")


def _named_constraints() -> bool:
    """Optuna >= 5 records constraints on the trial (Trial.set_constraint); 4.x needs a
    sampler constraints_func (deprecated in 5)."""
    import optuna

    return hasattr(optuna.trial.Trial, "set_constraint")


def constraints_of(trial) -> Sequence[float]:
    """constraints_func for Optuna 4 samplers: the values the sweeper recorded (<= 0 feasible)."""
    return trial.user_attrs.get("constraints", (1.0, 1.0))


def record_constraints(trial, values: Sequence[float]) -> None:
    """Store the constraints before `tell`: as a user attr (our bookkeeping, any Optuna) and as
    Optuna's own first-class constraints, which TPE, best_trial and the plots read."""
    trial.set_user_attr("constraints", [float(v) for v in values])
    if _named_constraints():
        for name, value in zip(CONSTRAINT_NAMES, values, strict=True):
            trial.set_constraint(name, float(value))


def make_sampler(name: str, seed: int | None, n_startup_trials: int):
    """TPE aware of the constraints (the default), or random sampling."""
    import optuna

    if name not in ("tpe", "random"):
        raise ConfigError(f"hydra.sweeper.sampler={name!r}: expected tpe or random")
    legacy = not _named_constraints()
    if name == "random" and not legacy:
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            # Optuna 4 random: TPE that never leaves its random startup, to keep constraints.
            n_startup_trials=n_startup_trials if name == "tpe" else 1 << 30,
            multivariate=True,  # models parameters jointly
            group=True,  # conditional parameters: one model per sub-space
            constant_liar=True,  # parallel workers: running trials repel new proposals
            constraints_func=constraints_of if legacy else None,
        )


def open_study(url: str, name: str, sampler, heartbeat_interval: int, grace_period: int):
    """Create or load the study (maximize samples/s) under the creation lock."""
    import optuna
    from optuna.study import StudyDirection

    storage = make_storage(url, heartbeat_interval, grace_period)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=sampler,
        direction="maximize",
        load_if_exists=True,
    )
    if study.direction != StudyDirection.MAXIMIZE:
        raise ConfigError(
            f"hydra.sweeper.study_name={name}: the existing study in {url} does not maximize"
        )
    return study


# -- trials ----------------------------------------------------------------------------------------
def outcome_of(trial) -> str:
    """ok | cached | failed | cached_failed | interrupted | over_budget | running | waiting."""
    from optuna.trial import TrialState

    recorded = trial.user_attrs.get(OUTCOME)
    if trial.state == TrialState.RUNNING:
        return "running"
    if trial.state == TrialState.WAITING:
        return "waiting"
    if trial.state == TrialState.COMPLETE:
        return recorded if recorded in ("ok", "cached") else "ok"
    if trial.state == TrialState.FAIL:
        # No recorded outcome: failed by the heartbeat check (its worker died mid-trial).
        return recorded if recorded in FAILED else "interrupted"
    return recorded or "pruned"


def is_feasible(trial) -> bool:
    from optuna.trial import TrialState

    if trial.state != TrialState.COMPLETE or trial.value is None:
        return False
    constraints = trial.user_attrs.get("constraints")
    return bool(constraints) and all(c <= 0 for c in constraints)


def best_feasible(trials: Sequence[Any]):
    """Highest samples/s among feasible trials (earliest on ties); None when none is feasible."""
    candidates = [t for t in trials if is_feasible(t)]
    if not candidates:
        return None
    return max(candidates, key=lambda t: (t.value, -t.number))


def ask(study):
    """study.ask() without Optuna's warning that heartbeats are meant for Study.optimize: this
    ask-and-tell loop records them itself (Heartbeat)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
        return study.ask()


def worker_identity() -> dict[str, Any]:
    import psutil

    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": round(psutil.Process().create_time(), 3),
    }


def _worker_alive(worker: dict[str, Any]) -> bool:
    import psutil

    try:
        started = psutil.Process(int(worker["pid"])).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, ValueError, TypeError):
        return False
    return abs(round(started, 3) - float(worker.get("started", -1))) < 0.01


def _dead(trial, host: str, grace_period: float) -> bool:
    """Same host: its process is gone. Unknown worker (killed between ask and recording who it
    is, so no heartbeat either): older than the grace period. Other hosts: heartbeat's job."""
    import datetime

    worker = trial.user_attrs.get("worker")
    if not isinstance(worker, dict):
        start = trial.datetime_start
        if start is None:
            return False
        return (datetime.datetime.now() - start).total_seconds() > grace_period
    return worker.get("host") == host and not _worker_alive(worker)


def reap_dead_workers(study, grace_period: float = 120.0) -> list[int]:
    """Fail RUNNING trials whose worker died: same host by process check, others by heartbeat.

    Returns the numbers of the trials failed here.
    """
    import optuna
    from optuna.trial import TrialState

    host = socket.gethostname()
    reaped = []
    storage = study._storage  # the public Study API cannot change another worker's trial
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _dead(trial, host, grace_period):
            continue
        worker = trial.user_attrs.get("worker") or {}
        try:
            storage.set_trial_user_attr(trial._trial_id, OUTCOME, "interrupted")
            storage.set_trial_user_attr(
                trial._trial_id, "error", f"interrupted: worker pid {worker.get('pid')} died"
            )
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                reaped.append(trial.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker reaped it first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return reaped


class Heartbeat:
    """Records the trial's heartbeat every `interval` s while the job runs (Event.wait, no spin)."""

    def __init__(self, storage, trial_id: int, interval: int) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="optuna-heartbeat", daemon=True)

    def _beat(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is retried at the next tick
                self.storage.record_heartbeat(self.trial_id)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Heartbeat:
        self.storage.record_heartbeat(self.trial_id)  # stale detection needs one beat recorded
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
