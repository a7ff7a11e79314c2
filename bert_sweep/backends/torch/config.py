"""PyTorch (transformers' BertForQuestionAnswering) on the CPU or an NVIDIA GPU.

Why this backend reads a torch checkpoint, not the ONNX: PyTorch cannot run an ONNX graph, and the
official MLPerf BERT-large also ships as a PyTorch state dict (the reference's pytorch_SUT), so
`MODEL_FORMAT = "torch"` makes the model resolution hand it a checkpoint (assets/resolve.py).

bf16 on the CPU: casting the weights (`bf16_mode=weights`) measured 116 samples/s against 110 for
`torch.autocast` on the embedded model (REFERENCE §5), so weights is the default; autocast keeps
fp32 weights and runs matmuls in the reduced type. fp16 is offered on cuda only (CPU fp16 kernels
are slow or missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bert_sweep.backends.config import BackendConfig
from bert_sweep.errors import field_error

ATTENTIONS = ("sdpa", "eager")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
HALF_MODES = ("weights", "autocast")


@dataclass
class TorchConfig(BackendConfig):
    _target_: str = "bert_sweep.backends.torch.backend.TorchBackend"
    name: str = "torch"
    threads: int = 0  # torch.set_num_threads (0 = torch's default)
    interop_threads: int = 0  # torch.set_num_interop_threads (0 = torch's default)
    attention: str = "sdpa"  # transformers' attn_implementation: sdpa | eager
    compile: bool = False  # torch.compile the model (first batches of each shape compile)
    compile_mode: str = "default"  # default | reduce-overhead | max-autotune
    compile_dynamic: bool | None = None  # torch.compile(dynamic=...); None = torch decides
    # bf16/fp16: cast the weights, or keep fp32 weights under torch.autocast
    bf16_mode: str = "weights"  # weights | autocast
    device_index: int = 0  # cuda: which GPU (the device.index knob); must be 0 on cpu
    pin_memory: bool = True  # cuda: copy inputs through pinned host memory, non-blocking

    SUPPORTED: ClassVar[dict[str, tuple[str, ...]]] = {
        "cpu": ("fp32", "bf16"),
        "cuda": ("fp32", "bf16", "fp16"),
    }
    ENGINE_PACKAGE: ClassVar[str | None] = "torch"
    PACKAGES: ClassVar[tuple[str, ...]] = ("transformers",)
    MODEL_FORMAT: ClassVar[str] = "torch"
    KNOBS: ClassVar[dict[str, str]] = BackendConfig.KNOBS | {
        "threads": "${threads}",
        "device_index": "${device.index}",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threads < 0:
            raise field_error("threads", self.threads, "an integer >= 0 (0 = torch's default)")
        if self.interop_threads < 0:
            raise field_error(
                "backend.interop_threads", self.interop_threads, "an integer >= 0 (0 = default)"
            )
        if self.attention not in ATTENTIONS:
            raise field_error("backend.attention", self.attention, f"one of {list(ATTENTIONS)}")
        if self.compile_mode not in COMPILE_MODES:
            raise field_error(
                "backend.compile_mode", self.compile_mode, f"one of {list(COMPILE_MODES)}"
            )
        if self.bf16_mode not in HALF_MODES:
            raise field_error("backend.bf16_mode", self.bf16_mode, f"one of {list(HALF_MODES)}")
        if self.device_index < 0:
            raise field_error("device.index", self.device_index, "an integer >= 0")
        if self.device == "cpu" and self.device_index != 0:
            raise field_error(
                "device.index",
                self.device_index,
                "0 on device=cpu (backend.device_index picks a GPU: device=cuda only)",
            )

    @property
    def reduced(self) -> bool:
        """bf16 or fp16: the weights or the arithmetic are cast (bf16_mode)."""
        return self.precision in ("bf16", "fp16")

    def numerics_key(self) -> dict:
        key = {"backend": self.name, "precision": self.precision, "attention": self.attention}
        if self.reduced:
            key["bf16_mode"] = self.bf16_mode
        if self.compile:
            key["compile"] = self.compile_mode
        return key

    def weight_transformations(self, model: dict[str, Any]) -> str | None:
        if not self.reduced:
            return None
        kind = {"bf16": "bfloat16", "fp16": "float16"}[self.precision]
        if self.bf16_mode == "weights":
            return f"weights cast to {kind} (torch Module.to)"
        return f"fp32 weights, {kind} arithmetic under torch.autocast"
