"""onnxruntime: threads, execution mode, graph optimization, providers; fp32, fp16 (float16
conversion with float32 inputs/outputs kept), int8 by static QDQ quantization calibrated on
features the run does not score, or by dynamic quantization; optionally the transformer optimizer
(fused Attention/EmbedLayerNorm/SkipLayerNorm) first. Prepared files are cached by a hash of
their inputs (backend.py).

Why static is the int8 default: dynamic int8 quantizes activations per batch at run time and
loses several % F1 on the embedded model (below bert-99), while static QDQ with per-channel
weights, ranges calibrated on unscored features and the sensitive nodes in `KEEP_FP32` left in
float keeps it (the figures are beside KEEP_FP32 below).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from bert_sweep.backends.config import BackendConfig
from bert_sweep.errors import field_error

EXECUTION_MODES = ("sequential", "parallel")
OPT_LEVELS = ("disable", "basic", "extended", "all")
QUANTIZATIONS = ("static", "dynamic")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
# ORT's guidance for CPU QDQ (quantize_static docstring, ORT 1.32): uint8 activations with int8
# weights on x86 (reduce_range only without VNNI); int8 activations on ARM.
ACTIVATION_TYPES = ("QUInt8", "QInt8")
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
# Static int8 quantizes MatMul nodes only (quantizing every op ORT can, LayerNorm, Gather and
# the reshapes included, kept 68 % of the fp32 F1 on the embedded model). Of those, these stay
# in float: op types, or node-name patterns (a substring; a glob when it has wildcards).
# Measured F1 ratios, embedded model, per-channel weights, 128 calibration rows from the
# dataset's end; "syn" = synthetic dev, 1250 features not calibrated on; "squad" = the first
# 1024 real SQuAD dev features:
#   minmax, every MatMul int8                                       syn 0.908
#   minmax, attention score/context MatMuls fp32                    syn 0.915
#     + QA head                                                     syn 0.914
#     + FFN output MatMul of layer 0 (input: GELU output, long tail) syn 0.960
#     + FFN output MatMul of every layer (`*[0-9]/output/dense/MatMul`, not the attention
#       output dense): KEEP_FP32 below                              syn 0.9932 squad 0.9682
#   minmax, KEEP_FP32, 256 calibration rows                                    squad 0.965
#   minmax, KEEP_FP32 + attention output dense                                 squad 0.974
#   percentile, KEEP_FP32 (the default)                             syn 0.9925 squad 0.9982
#   percentile, KEEP_FP32, optimize=true (Attention fused, so fp32) syn 0.9909
#   percentile, FFN output MatMuls int8                             syn 0.917
#   dynamic int8 (per channel)                                      syn 0.931  squad 0.981
KEEP_FP32 = ("attention/self/MatMul", "*[0-9]/output/dense/MatMul", "qa_outputs")


@dataclass
class OnnxConfig(BackendConfig):
    _target_: str = "bert_sweep.backends.onnx.backend.OnnxBackend"
    name: str = "onnx"
    intra_op_threads: int = 0  # 0 = onnxruntime's default (one per physical core)
    inter_op_threads: int = 0
    execution_mode: str = "sequential"  # sequential | parallel
    graph_optimization_level: str = "all"  # disable | basic | extended | all
    providers: list[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    # onnxruntime.transformers.optimizer (model_type bert) before anything else
    optimize: bool = False
    # -- int8 --------------------------------------------------------------------------------
    quantization: str = "static"  # static (QDQ, calibrated) | dynamic
    quant_per_channel: bool = True  # per output channel weight scales
    quant_reduce_range: bool = False  # 7-bit weights (for CPUs without VNNI)
    activation_type: str = "QUInt8"  # static: QUInt8 (x86) | QInt8 (ARM)
    calibration_samples: int = 128  # static: features of the run's dataset calibrated on
    calibration_method: str = "percentile"  # static: minmax | entropy | percentile
    keep_fp32: list[str] = field(default_factory=lambda: list(KEEP_FP32))  # static

    SUPPORTED: ClassVar[dict[str, tuple[str, ...]]] = {
        "cpu": ("fp32", "fp16", "int8"),
        "cuda": ("fp32", "fp16", "int8"),
    }
    ENGINE_PACKAGE: ClassVar[str | None] = "onnxruntime"
    PACKAGES: ClassVar[tuple[str, ...]] = ("onnx",)
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
        for name, value, allowed in (
            ("execution_mode", self.execution_mode, EXECUTION_MODES),
            ("graph_optimization_level", self.graph_optimization_level, OPT_LEVELS),
            ("quantization", self.quantization, QUANTIZATIONS),
            ("calibration_method", self.calibration_method, CALIBRATION_METHODS),
            ("activation_type", self.activation_type, ACTIVATION_TYPES),
        ):
            if value not in allowed:
                raise field_error(f"backend.{name}", value, f"one of {list(allowed)}")
        self.providers = list(self.providers)
        gpu = [p for p in self.providers if p in GPU_PROVIDERS]
        if self.device == "cpu" and gpu:
            raise field_error(
                "backend.providers",
                self.providers,
                f"CPU providers on device=cpu (e.g. [CPUExecutionProvider]); {gpu} need "
                "device=cuda",
            )
        if isinstance(self.calibration_samples, bool) or not isinstance(
            self.calibration_samples, int
        ):
            raise field_error(
                "backend.calibration_samples", self.calibration_samples, "an integer >= 0"
            )
        if self.calibration_samples < (1 if self.static_int8 else 0):
            raise field_error(
                "backend.calibration_samples",
                self.calibration_samples,
                "an integer >= 1 for precision=int8 backend.quantization=static (features of "
                "the run's dataset it calibrates on; or backend.quantization=dynamic)"
                if self.static_int8
                else "an integer >= 0",
            )
        self.keep_fp32 = list(self.keep_fp32)
        bad = [p for p in self.keep_fp32 if not isinstance(p, str) or not p.strip()]
        if bad:
            raise field_error(
                "backend.keep_fp32", self.keep_fp32, "a list of op types or node-name patterns"
            )

    @property
    def static_int8(self) -> bool:
        return self.precision == "int8" and self.quantization == "static"

    def numerics_key(self) -> dict:
        key = {"backend": self.name, "precision": self.precision}
        if self.optimize:
            key["optimize"] = True
        if self.precision == "int8":
            key |= {
                "quantization": self.quantization,
                "per_channel": self.quant_per_channel,
                "reduce_range": self.quant_reduce_range,
            }
            if self.static_int8:
                key |= {
                    "activation_type": self.activation_type,
                    "calibration_samples": self.calibration_samples,
                    "calibration_method": self.calibration_method,
                    "keep_fp32": sorted(self.keep_fp32),
                }
        return key

    def weight_transformations(self, model: dict[str, Any]) -> str | None:
        fused = (
            "onnxruntime transformer optimizer (fused attention and layer norms); "
            if self.optimize
            else ""
        )
        if self.precision == "int8" and model.get("file") != "bert_large_int8":
            if self.static_int8:
                kept = ", ".join(self.keep_fp32) or "none"
                return (
                    f"{fused}onnxruntime static int8 quantization (QDQ, weights int8 "
                    f"{'per channel' if self.quant_per_channel else 'per tensor'}, activations "
                    f"{self.activation_type} with {self.calibration_method} ranges calibrated "
                    f"on {self.calibration_samples} dataset features; kept in fp32: {kept})"
                )
            return f"{fused}onnxruntime dynamic int8 quantization (weights int8, activations fp32)"
        if self.precision == "fp16":
            return f"{fused}onnxruntime float16 conversion (weights fp16, inputs/outputs kept)"
        return fused.removesuffix("; ") or None
