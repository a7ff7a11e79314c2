"""TensorRT (installed from NVIDIA's index) on an NVIDIA GPU: fp32 | fp16 (model converted to
float16) | int8 (needs a model with Q/DQ nodes, e.g. model=bert-large-int8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bert_sweep.backends.config import BackendConfig
from bert_sweep.errors import field_error


@dataclass
class TrtConfig(BackendConfig):
    _target_: str = "bert_sweep.backends.trt.backend.TrtBackend"
    name: str = "trt"
    precision: str = "fp16"
    device: str = "cuda"  # TensorRT needs cuda
    device_index: int = 0
    workspace_gb: float = 4.0  # builder workspace memory pool
    builder_optimization_level: int = 3  # 0..5: higher builds slower, may run faster
    seq_length: int = 384  # used when the model's sequence axis is dynamic

    SUPPORTED: ClassVar[dict[str, tuple[str, ...]]] = {"cuda": ("fp32", "fp16", "int8")}
    ENGINE_PACKAGE: ClassVar[str | None] = "tensorrt"
    KNOBS: ClassVar[dict[str, str]] = BackendConfig.KNOBS | {"device_index": "${device.index}"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.builder_optimization_level <= 5:
            raise field_error(
                "backend.builder_optimization_level", self.builder_optimization_level, "0..5"
            )
        for name in ("workspace_gb", "seq_length"):
            if getattr(self, name) <= 0:
                raise field_error(f"backend.{name}", getattr(self, name), "a number > 0")
        if self.device_index < 0:
            raise field_error("device.index", self.device_index, "an integer >= 0")

    def weight_transformations(self, model: dict[str, Any]) -> str | None:
        if self.precision == "fp16":
            return "converted to float16 (onnxruntime float16 converter, I/O types kept)"
        return None
