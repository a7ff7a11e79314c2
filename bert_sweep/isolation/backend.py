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
from pathlib import Path

import numpy as np

from bert_sweep.backends.base import Backend, BackendInfo, Batch
from bert_sweep.isolation.client import EngineWorker, WorkerError

ISOLATION_NOTE = "worker process, shared-memory batches"


class IsolatedBackend(Backend):
    """Wraps the backend `inner` (built from the same config) and runs it in a worker."""

    RUNS_IN_WORKER = True

    def __init__(self, config, inner: Backend) -> None:
        super().__init__(config)
        self.inner = inner
        self.worker: EngineWorker | None = None
        self._info: dict | None = None

    @property
    def computes_model(self) -> bool:
        return self.inner.computes_model

    def prepare(self, model_path: Path, cache_dir: Path, calibration=None) -> Path:
        return self.inner.prepare(model_path, cache_dir, calibration)

    def load(self, model_path: Path) -> None:
        worker = EngineWorker(self.name, self.worker_log_path())
        worker.spawn_project(dataclasses.replace(self.config, isolated=False))
        self.worker = worker
        try:
            reply = worker.call({"op": "load", "model_path": str(model_path)}, "load")
        except BaseException:
            self.close()
            raise
        self._info = reply["info"]

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        if self.worker is None:
            raise WorkerError(f"backend={self.name}: worker not started (load first)")
        return self.worker.predict(batch.input_ids, batch.input_mask, batch.segment_ids)

    def info(self) -> BackendInfo:
        data = self._info
        if self.worker is not None and not self.worker.dead:
            with contextlib.suppress(WorkerError):  # a dead worker: what it said at load
                data = self.worker.call({"op": "info"}, "info")["info"]
        info = BackendInfo(**data) if data else self.inner.info()
        info.details = dict(info.details) | {"isolated": ISOLATION_NOTE}
        return info

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
