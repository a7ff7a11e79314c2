"""`backend.isolated=true`: any backend, run in a worker process of its own.

Why: an engine that aborts natively (an assertion, a segfault) kills the process it runs in; in
the loadgen child that loses the run's reason. Run in a worker (isolation/client.py), the same
abort is a one-line predict error naming the signal and the worker's last stderr line, and the
run fails with it (results.json, tracking) while the run's process and the sweep carry on.

Preparing (quantizing, caching) still happens in the run's process through the wrapped backend;
only load/predict/info move to the worker. The harness builds this wrapper (harness.runner's
make_backend) whenever a config says `isolated`, so no backend needs code of its own for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import abstractmethod
from pathlib import Path

import numpy as np

from bert_sweep.backends.base import Backend, BackendInfo, Batch
from bert_sweep.isolation.client import EngineWorker, WorkerError

ISOLATION_NOTE = "worker process, shared-memory batches"


class WorkerBackend(Backend):
    """A backend whose engine runs in a worker process: load starts it (`_start_worker`), then
    every predict/info/close goes to it."""

    RUNS_IN_WORKER = True

    def __init__(self, config) -> None:
        super().__init__(config)
        self.worker: EngineWorker | None = None
        self._info: dict | None = None
        self.model_path = ""

    @abstractmethod
    def _start_worker(self) -> EngineWorker:
        """Start the worker process (not yet loaded)."""

    def load(self, model_path: Path) -> None:
        self.worker = self._start_worker()
        try:
            reply = self.worker.call({"op": "load", "model_path": str(model_path)}, "load")
        except BaseException:
            self.close()
            raise
        self._info = reply["info"]
        self.model_path = str(model_path)

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        if self.worker is None:
            raise WorkerError(f"backend={self.name}: worker not started (load first)")
        return self.worker.predict(batch.input_ids, batch.input_mask, batch.segment_ids)

    def worker_info(self) -> dict | None:
        """What the worker says about the engine now (a dead one: what it said at load)."""
        if self.worker is not None and not self.worker.dead:
            with contextlib.suppress(WorkerError):
                return self.worker.call({"op": "info"}, "info")["info"]
        return self._info

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


class IsolatedBackend(WorkerBackend):
    """Wraps the backend `inner` (built from the same config) and runs it in a worker."""

    def __init__(self, config, inner: Backend) -> None:
        super().__init__(config)
        self.inner = inner

    @property
    def computes_model(self) -> bool:
        return self.inner.computes_model

    def prepare(self, model_path: Path, cache_dir: Path, calibration=None) -> Path:
        return self.inner.prepare(model_path, cache_dir, calibration)

    def _start_worker(self) -> EngineWorker:
        worker = EngineWorker(self.name, self.worker_log_path())
        worker.spawn_project(dataclasses.replace(self.config, isolated=False))
        return worker

    def info(self) -> BackendInfo:
        data = self.worker_info()
        info = BackendInfo(**data) if data else self.inner.info()
        info.details = dict(info.details) | {"isolated": ISOLATION_NOTE}
        return info
