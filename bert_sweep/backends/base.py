"""The interface every inference engine implements.

The harness hands a backend a batch of features (int64 arrays `[batch, seq]` named as in the
MLPerf signature) and gets back start/end logits `[batch, seq]` float32. Everything engine specific
(sessions, threads, precision, model preparation) lives behind this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Batch:
    """One batch of features, already sliced from the QSL arrays."""

    input_ids: np.ndarray  # int64 [b, seq]
    input_mask: np.ndarray  # int64 [b, seq]
    segment_ids: np.ndarray  # int64 [b, seq]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass
class BackendInfo:
    """What a backend reports about itself for results.json and tracking."""

    name: str
    precision: str
    engine_version: str
    model_path: str
    details: dict = field(default_factory=dict)


class Backend(ABC):
    """An inference engine. Construct cheaply; do heavy work in `prepare` and `load`."""

    name: str = "base"
    # False for backends that do not run the model (noop): their accuracy is not judged.
    computes_model: bool = True

    def prepare(self, model_path: Path, cache_dir: Path) -> Path:
        """Build derived model files (quantized, optimized, compiled) in the parent process.

        Returns the path the worker processes load; cached by a hash of every input so that each
        fresh loadgen process does not redo it. Default: the model as given.
        """
        return model_path

    @abstractmethod
    def load(self, model_path: Path) -> None:
        """Create the session/engine; called once per loadgen process before the test starts."""

    @abstractmethod
    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Return (start_logits, end_logits), each float32 `[len(batch), seq]`."""

    @abstractmethod
    def info(self) -> BackendInfo:
        """Describe the loaded engine (versions, providers, thread counts)."""

    def numerics_key(self) -> dict:
        """Settings that change the numbers the model produces (not batch or threads).

        Accuracy is reused across runs with the same key; override when a backend has more.
        """
        return {"backend": self.name}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources."""
