"""onnxruntime: threads, execution mode, graph optimization, providers; fp32 or int8 (dynamic
quantization, cached by a hash of its inputs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from bert_sweep.backends.config import BackendConfig
from bert_sweep.errors import field_error

EXECUTION_MODES = ("sequential", "parallel")
OPT_LEVELS = ("disable", "basic", "extended", "all")


@dataclass
class OnnxConfig(BackendConfig):
    _target_: str = "bert_sweep.backends.onnx.backend.OnnxBackend"
    name: str = "onnx"
    intra_op_threads: int = 0  # 0 = onnxruntime's default (one per physical core)
    inter_op_threads: int = 0
    execution_mode: str = "sequential"  # sequential | parallel
    graph_optimization_level: str = "all"  # disable | basic | extended | all
    providers: list[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    quant_per_channel: bool = False  # int8 dynamic quantization options
    quant_reduce_range: bool = False

    SUPPORTED: ClassVar[dict[str, tuple[str, ...]]] = {
        "cpu": ("fp32", "int8"),
        "cuda": ("fp32", "int8"),
    }
    ENGINE_PACKAGE: ClassVar[str | None] = "onnxruntime"
    KNOBS: ClassVar[dict[str, str]] = BackendConfig.KNOBS | {
        "intra_op_threads": "${threads}",
        "providers": "${device.providers}",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.intra_op_threads < 0:
            raise field_error("threads", self.intra_op_threads, "an integer >= 0 (0 = default)")
        if self.inter_op_threads < 0:
            raise field_error("backend.inter_op_threads", self.inter_op_threads, "an integer >= 0")
        if self.execution_mode not in EXECUTION_MODES:
            raise field_error(
                "backend.execution_mode", self.execution_mode, f"one of {list(EXECUTION_MODES)}"
            )
        if self.graph_optimization_level not in OPT_LEVELS:
            raise field_error(
                "backend.graph_optimization_level",
                self.graph_optimization_level,
                f"one of {list(OPT_LEVELS)}",
            )
        self.providers = list(self.providers)

    def numerics_key(self) -> dict:
        key = {"backend": self.name, "precision": self.precision}
        if self.precision == "int8":
            key |= {"per_channel": self.quant_per_channel, "reduce_range": self.quant_reduce_range}
        return key

    def weight_transformations(self, model: dict[str, Any]) -> str | None:
        if self.precision == "int8" and model.get("file") != "bert_large_int8":
            return "onnxruntime dynamic int8 quantization (weights int8, activations fp32)"
        return None
