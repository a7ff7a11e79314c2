"""OpenVINO runtime on the CPU: fp32 and bf16 through the inference precision hint, int8 through
NNCF post-training quantization on a calibration subset of the run's own dataset.

Calibration rows: the last `calibration_samples` features of the dataset that the run does not
score (a run scores its first N), so quantization never tunes itself on the samples it is judged
on; when the run scores the whole dataset there are none left and the overlap is stated in the
results (backend_info.details.calibration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bert_sweep.backends.config import BackendConfig
from bert_sweep.errors import field_error

PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
QUANT_PRESETS = ("performance", "mixed")
# The tool's precision -> OpenVINO's INFERENCE_PRECISION_HINT (int8: non-quantized ops in f32).
INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


@dataclass
class OpenvinoConfig(BackendConfig):
    _target_: str = "bert_sweep.backends.openvino.backend.OpenvinoBackend"
    name: str = "openvino"
    performance_hint: str = "LATENCY"  # LATENCY | THROUGHPUT
    num_streams: int = 0  # 0 = chosen by OpenVINO from the hint
    inference_num_threads: int = 0  # 0 = OpenVINO's default (all cores)
    calibration_samples: int = 300  # int8: features quantization is calibrated on
    quant_preset: str = "performance"  # int8: performance (symmetric) | mixed (asym. activations)
    # int8 through nncf.quantize_with_accuracy_control: keeps the most sensitive ops in f32 until
    # F1 on the calibration examples is >= accuracy_target x the f32 model's F1 there
    accuracy_control: bool = False
    accuracy_target: float = 0.99  # the run's `target`
    cache_dir: str = ""  # compiled-model cache lives under it (assets.cache_dir); "" = no cache

    SUPPORTED: ClassVar[dict[str, tuple[str, ...]]] = {"cpu": ("fp32", "bf16", "int8")}
    ENGINE_PACKAGE: ClassVar[str | None] = "openvino"
    PACKAGES: ClassVar[tuple[str, ...]] = ("nncf",)
    KNOBS: ClassVar[dict[str, str]] = BackendConfig.KNOBS | {
        "inference_num_threads": "${threads}",
        "cache_dir": "${assets.cache_dir}",
        "accuracy_target": "${target}",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.performance_hint not in PERFORMANCE_HINTS:
            raise field_error(
                "backend.performance_hint",
                self.performance_hint,
                f"one of {list(PERFORMANCE_HINTS)}",
            )
        if self.num_streams < 0:
            raise field_error("backend.num_streams", self.num_streams, "an integer >= 0 (0 = auto)")
        if self.inference_num_threads < 0:
            raise field_error(
                "threads", self.inference_num_threads, "an integer >= 0 (0 = default)"
            )
        if self.calibration_samples < 1:
            raise field_error(
                "backend.calibration_samples", self.calibration_samples, "an integer >= 1"
            )
        if self.quant_preset not in QUANT_PRESETS:
            raise field_error(
                "backend.quant_preset", self.quant_preset, f"one of {list(QUANT_PRESETS)}"
            )
        if not 0 < self.accuracy_target <= 1:
            raise field_error("target", self.accuracy_target, "a fraction in (0, 1]")

    def numerics_key(self) -> dict:
        key = {"backend": self.name, "precision": self.precision}
        if self.precision == "int8":
            key |= {"calibration_samples": self.calibration_samples, "preset": self.quant_preset}
            if self.accuracy_control:
                key |= {"accuracy_control": True, "accuracy_target": self.accuracy_target}
        return key

    def weight_transformations(self, model: dict[str, Any]) -> str | None:
        if self.precision == "int8":
            control = (
                f", with accuracy control (F1 >= {self.accuracy_target:g} x f32)"
                if self.accuracy_control
                else ""
            )
            return (
                f"NNCF post-training int8 quantization ({self.quant_preset} preset, transformer "
                f"model type) calibrated on {self.calibration_samples} dataset features{control}"
            )
        if self.precision == "bf16":
            return "OpenVINO bf16 inference precision (weights converted when compiled)"
        return None
