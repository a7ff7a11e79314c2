"""The Hydra callback that records every job in MLflow (enabled by conf/tracking/mlflow.yaml).

Single run: one MLflow run in the `runs` experiment. Multirun (grid `-m`, or a sweeper that
launches jobs through Hydra's launcher, as the Optuna search does): one parent run per sweep
folder, found by tag or created when the sweep's first job starts, with each job nested under it,
in an experiment named after the study or sweep.

What is recorded comes from the job's results.json and run folder, never from inside the task.
Every job ends through `on_job_end` (the task never exits the process, bert_sweep.exits): a job
cut short by Ctrl-C or SIGTERM is KILLED, and so is its sweep's parent run, since the interrupt
then stops the sweep. A job whose process was killed outright (SIGKILL) stays RUNNING only until
the sweep is resumed: the next job start of that sweep marks it KILLED.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from bert_sweep.report.record import RESULTS_FILE  # light: no heavy imports
from bert_sweep.tracking.settings import TrackingSettings

# Files of a sweep folder that are not worth an artifact (stores, locks, temp files).
_SKIP_SUFFIXES = (".db", ".db-wal", ".db-shm", ".lock", ".tmp", ".sqlite", ".sqlite3")
# A job's subfolder holding any of these is a loadgen test's output (harness/runner.py).
_LOADGEN_FILES = ("user.conf", "mlperf_log_summary.txt", "mlperf_log_detail.txt")


@dataclass
class _Job:
    run_id: str
    job_dir: Path
    started: float
    finished: bool = False


@dataclass
class _Sweep:
    run_id: str
    experiment_id: str
    sweep_dir: Path
    job_dirs: set[Path] = field(default_factory=set)
    logged: dict[str, int] = field(default_factory=dict)  # artifact path -> mtime_ns uploaded


class MlflowTrackingCallback(Callback):
    """Hydra callback: MLflow run per job, parent run per sweep. Settings: TrackingSettings."""

    def __init__(self, **settings: Any) -> None:
        self.settings = TrackingSettings(**settings)
        self._store = None
        self._jobs: dict[Path, _Job] = {}
        self._sweeps: dict[Path, _Sweep] = {}

    @property
    def store(self):
        if self._store is None:
            from bert_sweep.tracking.store import TrackingStore

            self._store = TrackingStore(self.settings)
        return self._store

    # -- Hydra hooks -------------------------------------------------------------------------
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.store.ensure_created()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Create the store and experiment here, in the sweep process, before any job starts."""
        from bert_sweep.tracking.config_view import experiment_name

        self.store.ensure_created()
        self.store.experiment_id(experiment_name(self.settings, config, multirun=True))

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from bert_sweep.tracking import config_view as view
        from bert_sweep.tracking.record import (
            TAG_HOST,
            TAG_JOB_DIR,
            TAG_JOB_NUM,
            TAG_PARENT,
            TAG_PID,
            TAG_ROLE,
            TAG_SWEEP_DIR,
            TAG_SWEEP_KEY,
            flatten,
            job_run_name,
        )
        from bert_sweep.tracking.store import sweep_key

        job_dir = view.job_dir(config)
        multirun = view.is_multirun(config)
        task = view.task_config(config)
        tags = {
            TAG_ROLE: "job",
            TAG_JOB_DIR: str(job_dir),
            TAG_HOST: self.store.host,
            TAG_PID: str(os.getpid()),
            "overrides": view.overrides(config) or "(none)",
            "mlflow.source.name": "bert_sweep",
            "mlflow.source.type": "LOCAL",
        }
        self.store.ensure_created()
        experiment_id = self.store.experiment_id(
            view.experiment_name(self.settings, config, multirun)
        )
        num = None
        if multirun:
            sweep = self._sweep(config, experiment_id)
            sweep.job_dirs.add(job_dir)
            num = view.job_num(config)
            key = sweep_key(sweep.sweep_dir)
            active = {j.run_id for j in self._jobs.values() if not j.finished}
            self.store.reap_stale(experiment_id, key, keep=active)
            tags |= {
                TAG_PARENT: sweep.run_id,
                TAG_SWEEP_KEY: key,
                TAG_SWEEP_DIR: str(sweep.sweep_dir),
                TAG_JOB_NUM: str(num),
            }
        params = flatten(task)
        params.pop("paths.output_dir", None)  # differs per job; recorded as the job_dir tag
        run_id = self.store.start_run(experiment_id, job_run_name(task, num), tags, params)
        self._jobs[job_dir] = _Job(run_id=run_id, job_dir=job_dir, started=time.time())
        self.store.log_text(run_id, view.resolved_yaml(task), "config/resolved.yaml")

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        from bert_sweep.tracking import config_view as view

        job = self._jobs.get(view.job_dir(config))
        if job is None or job.finished:
            return
        from hydra.core.utils import JobStatus

        if job_return is not None and job_return.status == JobStatus.FAILED:
            # The task raised (return_value would re-raise it): FAILED, with whatever figures a
            # results.json written before the exception holds.
            error = job_return._return_value
            results = {
                **(self._read_results(job) or {}),
                "status": "failed",
                "error": f"{type(error).__name__}: {error}",
                "error_kind": "crash",
            }
        else:
            value = job_return.return_value if job_return is not None else None
            results = value if isinstance(value, dict) else self._read_results(job)
        if results is None:
            results = {
                "status": "failed",
                "error": "no results.json written",
                "error_kind": "crash",
            }
        from bert_sweep.exits import interrupt_reason, pending_interrupt

        interrupt = pending_interrupt()
        if interrupt is None:
            self._finish_job(job, results)
            return
        # Ctrl-C/SIGTERM: the job and the sweep it belongs to end here (the interrupt is raised
        # again after this callback, bert_sweep.exits.InterruptCallback)
        from bert_sweep.tracking.record import KILLED, TAG_ERROR

        self.store.log(job.run_id, tags={TAG_ERROR: interrupt_reason(interrupt)})
        self._finish_job(job, results, status=KILLED)
        for sweep in list(self._sweeps.values()):
            self._finish_sweep(sweep, KILLED)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from bert_sweep.tracking.record import FINISHED

        for sweep in list(self._sweeps.values()):
            self._finish_sweep(sweep, FINISHED)

    # -- helpers -----------------------------------------------------------------------------
    def _sweep(self, config: DictConfig, experiment_id: str) -> _Sweep:
        from bert_sweep.tracking import config_view as view
        from bert_sweep.tracking.record import TAG_ROLE, TAG_SWEEP_DIR, TAG_SWEEP_KEY
        from bert_sweep.tracking.store import sweep_key

        folder = view.sweep_dir(config)
        if folder in self._sweeps:
            return self._sweeps[folder]
        tags = {
            TAG_ROLE: "sweep",
            TAG_SWEEP_KEY: sweep_key(folder),
            TAG_SWEEP_DIR: str(folder),
            "sweep_overrides": view.sweep_overrides(config) or "(none)",
            "mlflow.source.name": "bert_sweep",
        }
        run_id = self.store.parent_run(experiment_id, folder, f"sweep {folder.name}", tags)
        self._sweeps[folder] = _Sweep(run_id=run_id, experiment_id=experiment_id, sweep_dir=folder)
        return self._sweeps[folder]

    @staticmethod
    def _read_results(job: _Job) -> dict | None:
        """This job's record (RunRecord, in its dict form so the callers can add fields),
        ignoring one left by an earlier attempt at the same folder; an unreadable or older-schema
        record is a failure with that reason."""
        from bert_sweep.report.record import RecordError, RunRecord

        path = job.job_dir / RESULTS_FILE
        try:
            if path.stat().st_mtime < job.started - 1:
                return None
        except OSError:
            return None
        try:
            return RunRecord.from_json(path).to_dict()
        except RecordError as exc:
            return {"status": "failed", "error": str(exc), "error_kind": "RecordError"}

    def _finish_job(self, job: _Job, results: dict, status: str | None = None) -> None:
        from bert_sweep.tracking.record import (
            TAG_NOTE,
            failure_note,
            metrics_from_results,
            run_status,
            tags_from_results,
        )

        job.finished = True
        tags = tags_from_results(results)
        note = failure_note(results)
        if note:
            tags[TAG_NOTE] = note.replace("FAILED", status, 1) if status else note
        self.store.log(job.run_id, metrics=metrics_from_results(results), tags=tags)
        if self.settings.log_artifacts:
            skipped = self.store.log_files(job.run_id, _job_files(job.job_dir))
            if skipped:
                self.store.log(job.run_id, tags={"artifacts_skipped": "; ".join(skipped)})
        self.store.finish(job.run_id, status or run_status(results))

    def _finish_sweep(self, sweep: _Sweep, status: str) -> None:
        from bert_sweep.tracking.record import TAG_PARENT

        self._sweeps.pop(sweep.sweep_dir, None)
        children = self.store.search(sweep.experiment_id, f"tags.`{TAG_PARENT}` = '{sweep.run_id}'")
        metrics: dict[str, float] = {"jobs": float(len(children))}
        metrics["jobs_failed"] = float(sum(r.info.status == "FAILED" for r in children))
        rates = [r.data.metrics for r in children if "samples_per_second" in r.data.metrics]
        if rates:
            metrics["best_samples_per_second"] = max(m["samples_per_second"] for m in rates)
        feasible = [m["samples_per_second"] for m in rates if m.get("feasible") == 1.0]
        if feasible:
            metrics["best_feasible_samples_per_second"] = max(feasible)
        self.store.log(sweep.run_id, metrics=metrics)
        self._log_sweep_files(sweep)
        self.store.finish(sweep.run_id, status)

    def _log_sweep_files(self, sweep: _Sweep) -> None:
        """Upload the sweep's own files not yet uploaded in their current version."""
        if not self.settings.log_artifacts:
            return
        files = {
            name: path
            for name, path in _sweep_files(sweep.sweep_dir, sweep.job_dirs).items()
            if sweep.logged.get(name) != path.stat().st_mtime_ns
        }
        skipped = self.store.log_files(sweep.run_id, files)
        sweep.logged |= {name: path.stat().st_mtime_ns for name, path in files.items()}
        if skipped:
            self.store.log(sweep.run_id, tags={"artifacts_skipped": "; ".join(skipped)})


def _files_under(folder: Path, prefix: str) -> dict[str, Path]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.endswith(_SKIP_SUFFIXES):
            out[f"{prefix}{path.relative_to(folder).as_posix()}"] = path
    return out


def _is_loadgen_dir(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _LOADGEN_FILES)


def _job_files(job_dir: Path) -> dict[str, Path]:
    """A job folder's own files: results.json, logs, Hydra's config (as hydra/), and each loadgen
    test folder (user.conf, mlperf_log_*). Only these, should a run folder be a busy place."""
    out = {}
    if not job_dir.is_dir():
        return out
    for entry in sorted(job_dir.iterdir()):
        if (
            entry.is_file()
            and not entry.name.startswith(".")
            and not entry.name.endswith(_SKIP_SUFFIXES)
        ):
            out[entry.name] = entry
        elif entry.is_dir() and entry.name == ".hydra":
            out |= _files_under(entry, "hydra/")
        elif entry.is_dir() and _is_loadgen_dir(entry):
            out |= _files_under(entry, f"{entry.name}/")
    return out


def _sweep_files(sweep_dir: Path, job_dirs: set[Path]) -> dict[str, Path]:
    """The sweep's own files (plots, summary table, multirun.yaml), not its jobs' folders."""
    if not sweep_dir.is_dir():
        return {}
    out = {}
    for entry in sorted(sweep_dir.iterdir()):
        if entry.is_file() and not entry.name.endswith(_SKIP_SUFFIXES):
            if not entry.name.startswith("."):
                out[f"sweep/{entry.name}"] = entry
        elif (
            entry.is_dir()
            and entry not in job_dirs
            and not (entry / ".hydra").is_dir()
            and entry.name != "mlartifacts"
            and not entry.name.startswith(".")
        ):
            out |= _files_under(entry, f"sweep/{entry.name}/")
    return out
