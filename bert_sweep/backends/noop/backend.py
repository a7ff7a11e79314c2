"""A backend that computes nothing: measures harness and loadgen overhead, and drives tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bert_sweep.backends.base import Backend, BackendInfo, Batch
from bert_sweep.backends.noop.config import NoopConfig


class NoopBackend(Backend):
    """Returns all-zero logits instantly (accuracy is meaningless by construction)."""

    def __init__(self, config: NoopConfig | None = None) -> None:
        super().__init__(config or NoopConfig())
        self.model_path = ""

    def load(self, model_path: Path) -> None:
        self.model_path = str(model_path)

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        shape = batch.input_ids.shape
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def info(self) -> BackendInfo:
        return BackendInfo("noop", self.precision, "n/a", self.model_path)
