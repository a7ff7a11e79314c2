"""The MLflow side of tracking: store creation, experiments, parent runs, batched logging.

Uses `MlflowClient` with explicit run ids (not the fluent `mlflow.start_run` state), because one
sweep process runs many jobs one after another and several processes may share one store. Every
write is a single `log_batch` or status call; with a sqlite store each waits on the busy timeout
(settings.client_uri) and, if the database is still locked, is retried with a backoff.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from bert_sweep.locks import file_lock
from bert_sweep.tracking.record import (
    KILLED,
    MAX_TAG_VALUE,
    RUNNING,
    TAG_ERROR,
    TAG_HOST,
    TAG_NOTE,
    TAG_PID,
    TAG_ROLE,
    TAG_SWEEP_KEY,
    clip,
)
from bert_sweep.tracking.settings import TrackingSettings

T = TypeVar("T")
_log = logging.getLogger(__name__)
_LOCKED = ("database is locked", "database table is locked")
_RETRIES = 8
_BATCH = 100  # MLflow accepts at most 100 params+tags per log_batch call
# MLflow 3's UI opens an experiment as a GenAI (traces) one unless told it holds training-style
# runs; with this tag it opens on the runs table, where sweeps are compared.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


def sweep_key(sweep_dir: str | Path) -> str:
    """A stable key for a sweep folder (filter values stay free of quotes and slashes)."""
    return hashlib.sha1(str(Path(sweep_dir).absolute()).encode()).hexdigest()[:16]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TrackingStore:
    """One MLflow store (sqlite file, database or server) as bert_sweep uses it."""

    def __init__(self, settings: TrackingSettings) -> None:
        self.settings = settings
        self._client = None
        self.host = socket.gethostname()

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.settings.client_uri)
        return self._client

    @staticmethod
    def _retry(call: Callable[[], T]) -> T:
        """Run one store call, retrying while sqlite reports a lock held past its timeout."""
        for attempt in range(_RETRIES):
            try:
                return call()
            except Exception as exc:
                if attempt == _RETRIES - 1 or not any(s in str(exc) for s in _LOCKED):
                    raise
                time.sleep(min(0.25 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    def ensure_created(self) -> None:
        """Create the store (tables, sqlite WAL journal) once, under a lock, so that jobs started
        in parallel afterwards only open it: concurrent first-time creation is what fails."""
        with file_lock(self.settings.lock_file()):
            noisy = [logging.getLogger(n) for n in ("alembic", "mlflow.store.db.utils")]
            levels = [n.level for n in noisy]
            for logger in noisy:
                logger.setLevel(logging.WARNING)
            try:
                path = self.settings.sqlite_path
                if path is not None and not path.exists():
                    # Made here with the artifact root beside it (MLflow's default would be
                    # ./mlruns in whatever folder the first job happens to run in).
                    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

                    root = self.settings.resolved_artifact_root
                    SqlAlchemyStore(self.settings.client_uri, root).engine.dispose()
                self._retry(lambda: self.client.search_experiments(max_results=1))
            finally:
                for logger, level in zip(noisy, levels, strict=True):
                    logger.setLevel(level)
            if path is not None:
                # WAL: readers (the UI, parent lookups) never block the jobs' writers.
                with sqlite3.connect(path, timeout=60) as conn:
                    conn.execute("PRAGMA journal_mode=WAL")

    def experiment_id(self, name: str) -> str:
        """The id of experiment `name`, created (or restored from the bin) when needed."""
        with file_lock(self.settings.lock_file()):
            found = self._retry(lambda: self.client.get_experiment_by_name(name))
            if found is not None:
                if found.lifecycle_stage == "deleted":
                    self._retry(lambda: self.client.restore_experiment(found.experiment_id))
                return found.experiment_id
            location = self.settings.artifact_location(name)
            return self._retry(
                lambda: self.client.create_experiment(
                    name, artifact_location=location, tags=EXPERIMENT_TAGS
                )
            )

    def search(self, experiment_id: str, filter_string: str) -> list:
        runs, token = [], None
        while True:
            page = self._retry(
                lambda token=token: self.client.search_runs(
                    [experiment_id], filter_string, max_results=1000, page_token=token
                )
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    # -- runs --------------------------------------------------------------------------------
    def parent_run(self, experiment_id: str, sweep_dir: Path, name: str, tags: Mapping) -> str:
        """The sweep's parent run: found by its sweep-folder tag (another process of the same
        study, or a resumed sweep, may have made it), else created. Set back to RUNNING."""
        key = sweep_key(sweep_dir)
        query = f"tags.`{TAG_SWEEP_KEY}` = '{key}' and tags.`{TAG_ROLE}` = 'sweep'"
        with file_lock(self.settings.lock_file()):
            found = self.search(experiment_id, query)
            if found:
                run = min(found, key=lambda r: r.info.start_time or 0)
                if run.info.status != RUNNING:
                    self._retry(lambda: self.client.update_run(run.info.run_id, status=RUNNING))
                return run.info.run_id
            run = self._retry(
                lambda: self.client.create_run(
                    experiment_id, start_time=_now_ms(), tags=dict(tags), run_name=name
                )
            )
            return run.info.run_id

    def reap_stale(self, experiment_id: str, key: str, keep: set[str]) -> list[str]:
        """Mark KILLED the job runs of this sweep left RUNNING by a process on this machine that
        is gone, so a resumed sweep shows no phantom running jobs. Runs of live processes (other
        workers of the study) and of other machines are left alone."""
        query = f"tags.`{TAG_SWEEP_KEY}` = '{key}' and tags.`{TAG_ROLE}` = 'job'"
        query += f" and attributes.status = '{RUNNING}'"
        reaped = []
        for run in self.search(experiment_id, query):
            run_id, tags = run.info.run_id, run.data.tags
            pid = int(tags.get(TAG_PID, "0") or 0)
            if run_id in keep or tags.get(TAG_HOST) != self.host:
                continue
            if pid != os.getpid() and _pid_alive(pid):
                continue
            why = (
                f"interrupted: process {pid} on {self.host} ended before the job finished "
                "(marked when the sweep went on)"
            )
            self.log(run_id, tags={TAG_ERROR: why, TAG_NOTE: f"**KILLED**: {why}"})
            self.finish(run_id, KILLED)
            reaped.append(run_id)
        return reaped

    def start_run(
        self, experiment_id: str, name: str, tags: Mapping[str, str], params: Mapping[str, str]
    ) -> str:
        run = self._retry(
            lambda: self.client.create_run(
                experiment_id, start_time=_now_ms(), tags=dict(tags), run_name=name
            )
        )
        self.log(run.info.run_id, params=params)
        return run.info.run_id

    def log(
        self,
        run_id: str,
        params: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Log in as few transactions as MLflow's batch limits allow."""
        from mlflow.entities import Metric, Param, RunTag

        stamp = _now_ms()
        entries: list = [Param(k, v) for k, v in (params or {}).items()]
        entries += [RunTag(k, clip(str(v), MAX_TAG_VALUE)) for k, v in (tags or {}).items()]
        metric_list = [Metric(k, float(v), stamp, 0) for k, v in (metrics or {}).items()]
        chunks = [entries[i : i + _BATCH] for i in range(0, len(entries), _BATCH)] or [[]]
        for i, chunk in enumerate(chunks):
            batch_params = [e for e in chunk if isinstance(e, Param)]
            batch_tags = [e for e in chunk if isinstance(e, RunTag)]
            batch_metrics = metric_list if i == 0 else []
            if batch_params or batch_tags or batch_metrics:
                self._retry(
                    lambda p=batch_params, t=batch_tags, m=batch_metrics: self.client.log_batch(
                        run_id, metrics=m, params=p, tags=t, synchronous=True
                    )
                )

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._retry(lambda: self.client.log_text(run_id, text, artifact_file))

    def log_files(self, run_id: str, files: Mapping[str, Path]) -> list[str]:
        """Upload `{artifact path: local file}`; returns the files skipped for their size."""
        limit = self.settings.max_artifact_mb * 2**20
        skipped = []
        for artifact_path, local in sorted(files.items()):
            size = local.stat().st_size
            if size > limit:
                skipped.append(f"{artifact_path} ({size / 2**20:.0f} MB)")
                continue
            folder = str(Path(artifact_path).parent)
            self.client.log_artifact(run_id, str(local), None if folder == "." else folder)
        return skipped

    def finish(self, run_id: str, status: str) -> None:
        self._retry(lambda: self.client.set_terminated(run_id, status=status, end_time=_now_ms()))
