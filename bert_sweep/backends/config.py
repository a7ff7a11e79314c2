"""The config every backend's own config dataclass extends, and what a backend says about itself.

Why one dataclass per backend carries everything: a backend used to be spread over a schema
class, a store entry, a YAML file, an `__init__` re-declaring every field, and tables in the
system description, the submission texts and the accuracy cache. Now a backend is
`backends/<name>/config.py` (this class's subclass: fields, validation in `__post_init__`, and
the ClassVars below) plus `backends/<name>/backend.py` (the implementation, built as
`Backend(config)`), listed once in `backends/registry.py`. Everything else reads the class.

This module imports nothing heavy: configs are composed and validated in processes that never
load an engine (the CLI's precheck, the sweeper, the submission stage).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from omegaconf import MISSING

from bert_sweep.errors import ConfigError, field_error

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
DEVICES = ("cpu", "cuda")


@dataclass
class BackendConfig:
    """Fields every backend takes; `_target_` names its implementation class."""

    _target_: str = MISSING
    name: str = MISSING
    precision: str = "fp32"
    batch_size: int = 1
    device: str = "cpu"  # device.name of the run: decides which precisions are allowed
    # run the engine in a worker process (bert_sweep/isolation): a native abort becomes a failed
    # run with its reason instead of a dead loadgen process
    isolated: bool = False

    # -- what a backend says about itself (override in the subclass) --------------------------
    # Allowed precisions per device; a device missing here cannot run the backend.
    SUPPORTED: ClassVar[dict[str, tuple[str, ...]]] = {"cpu": ("fp32",)}
    # The PyPI package whose version names the framework (systems JSON, results, tracking).
    ENGINE_PACKAGE: ClassVar[str | None] = None
    # Other packages whose versions change its results (recorded too), e.g. a quantizer.
    PACKAGES: ClassVar[tuple[str, ...]] = ()
    # False for backends that do not run the model (noop): their accuracy is not judged.
    COMPUTES_MODEL: ClassVar[bool] = True
    # The model file it reads: "onnx" (the MLPerf ONNX) or "torch" (a torch checkpoint: a folder
    # with config.json + model.safetensors, or a state dict); assets/resolve.py hands it that.
    MODEL_FORMAT: ClassVar[str] = "onnx"
    # Fields set from the run's top-level knobs when the backend is selected (`backend=<name>`):
    # the common ones here, each backend adds its own (`KNOBS = BackendConfig.KNOBS | {...}`).
    KNOBS: ClassVar[dict[str, str]] = {
        "precision": "${precision}",
        "batch_size": "${batch}",
        "device": "${device.name}",
    }

    def __post_init__(self) -> None:
        if self.batch_size is None or self.batch_size <= 0:
            raise field_error("batch", self.batch_size, "an integer >= 1")
        if self.device not in DEVICES:
            raise field_error("device", self.device, f"one of {list(DEVICES)}")
        allowed = self.SUPPORTED.get(self.device)
        if allowed is None or self.precision not in allowed:
            table = "; ".join(f"{d}: {'|'.join(p)}" for d, p in self.SUPPORTED.items())
            wanted = (
                f"device {'|'.join(self.SUPPORTED)}"
                if allowed is None
                else f"precision {'|'.join(allowed)} on {self.device}"
            )
            raise ConfigError(
                f"backend={self.name} precision={self.precision} device={self.device}: "
                f"expected {wanted} (backend={self.name} supports {table})"
            )

    # -- hooks read by the pipeline, the accuracy cache and the submission texts --------------
    def numerics_key(self) -> dict:
        """Settings that change the numbers the model produces (not batch or threads).

        Accuracy is reused across runs with the same key; override when a backend has more.
        """
        return {"backend": self.name, "precision": self.precision}

    def weight_transformations(self, model: dict[str, Any]) -> str | None:
        """What this backend did to the weights, for measurements.json (None: nothing)."""
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackendConfig:
        """The dataclass (validated) from its dict, e.g. results.json's `config.backend`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise field_error(
                f"backend.{unknown[0]}", data[unknown[0]], f"a field of {cls.__name__}"
            )
        return cls(**data)
