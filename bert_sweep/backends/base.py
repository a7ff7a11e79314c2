"""The interface every inference engine implements.

The harness hands a backend a batch of features (int64 arrays `[batch, seq]` named as in the
MLPerf signature) and gets back start/end logits `[batch, seq]` float32. Everything engine specific
(sessions, threads, precision, model preparation) lives behind this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from bert_sweep.backends.config import BackendConfig


def import_engine(module: str, backend: str, install_hint: str):
    """Import an engine's module lazily, or raise BackendUnavailableError with the install
    command (never a fallback). Any exception counts: a native library may fail to load."""
    import importlib

    from bert_sweep.errors import BackendUnavailableError

    try:
        return importlib.import_module(module)
    except Exception as exc:
        first = " ".join(str(exc).split())[:120]
        raise BackendUnavailableError(
            f"backend={backend}: cannot import {module} ({first}); install: {install_hint}"
        ) from None


@dataclass(frozen=True)
class Batch:
    """One batch of features, already sliced from the QSL arrays."""

    input_ids: np.ndarray  # int64 [b, seq]
    input_mask: np.ndarray  # int64 [b, seq]
    segment_ids: np.ndarray  # int64 [b, seq]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass(frozen=True)
class Calibration:
    """Data a backend may calibrate on: the run's features file and the rows it scores.

    `calibration_rows(n)` picks n rows from the end of the dataset that the run does not score
    (a run scores its first `scored` rows), so quantization never sees the scored samples when
    the dataset has enough others; `overlaps_scored` says when it had to.
    """

    features_path: str
    total: int  # features in the dataset
    scored: int  # the run scores rows [0, scored)
    # for quantizers that check accuracy themselves (e.g. NNCF's accuracy control)
    examples: tuple = field(default=(), repr=False, compare=False)
    vocab_path: str | None = None

    def calibration_rows(self, n: int) -> tuple[range, bool]:
        n = max(1, min(int(n), self.total))
        start = max(self.scored, self.total - n)
        if start >= self.total:  # every row is scored: take the last n anyway, and say so
            return range(self.total - n, self.total), True
        return range(start, self.total), False


@dataclass
class BackendInfo:
    """What a backend reports about itself for results.json and tracking."""

    name: str
    precision: str
    engine_version: str
    model_path: str
    details: dict = field(default_factory=dict)


class Backend(ABC):
    """An inference engine, built from its config dataclass: `XBackend(config)`.

    Construct cheaply (no engine import); do heavy work in `prepare` and `load`. What the
    backend says about itself (precisions, framework package, numerics) lives on the config.
    """

    # True for a backend that runs its engine in a worker process (isolation/): the harness
    # then tells it where the worker's log goes (`worker_log_dir`, the test's output folder).
    RUNS_IN_WORKER: ClassVar[bool] = False

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.worker_log_dir: Path | None = None

    def worker_log_path(self) -> Path:
        """Where an out-of-process backend's worker writes its stdout/stderr."""
        from bert_sweep.isolation.client import LOG_NAME

        return Path(self.worker_log_dir or Path.cwd()) / LOG_NAME

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def precision(self) -> str:
        return self.config.precision

    @property
    def computes_model(self) -> bool:
        return self.config.COMPUTES_MODEL

    def prepare(
        self, model_path: Path, cache_dir: Path, calibration: Calibration | None = None
    ) -> Path:
        """Build derived model files (quantized, optimized, compiled) in the parent process.

        `calibration` (the run's features and which of them are scored) is given by the
        pipeline for backends that quantize from data.

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
        """The config's numerics key (accuracy is reused across runs with the same key)."""
        return self.config.numerics_key()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources."""
