"""PyTorch backend: transformers' BertForQuestionAnswering, eager or torch.compile'd.

The model comes from a torch checkpoint (checkpoint.py), loaded in fp32 on the CPU, then cast
(`bf16_mode=weights`) and moved to the device; `bf16_mode=autocast` keeps fp32 weights and runs
under `torch.autocast`. Inference runs under `torch.inference_mode`. Logits come back as float32
numpy arrays whatever the compute type.

Why no prepared file: every transformation here (cast, compile) is done in memory when the
loadgen process loads the model and costs seconds; torch.compile keeps its own cache. `prepare`
only checks that the checkpoint is there, so a missing file fails before loadgen starts.

On cuda, inputs go through pinned host memory with non-blocking copies, and the two logit
tensors come back in one transfer; `info().details` records the GPU's name and
`torch.cuda.max_memory_allocated` (the peak since load).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from bert_sweep.backends.base import Backend, BackendInfo, Batch, import_engine
from bert_sweep.backends.torch.checkpoint import checkpoint_files, load_qa_model
from bert_sweep.backends.torch.config import TorchConfig
from bert_sweep.errors import BackendUnavailableError

INSTALL_HINT = "pip install torch==2.13.0 (CPU) or a CUDA build from pytorch.org"


def import_torch():
    return import_engine("torch", "torch", INSTALL_HINT)


class TorchBackend(Backend):
    def __init__(self, config: TorchConfig | None = None) -> None:
        super().__init__(config or TorchConfig())
        self.model = None
        self.model_path = ""
        self._device = None
        self._dtype = None
        self._details: dict = {}

    # -- parent process ----------------------------------------------------------------------
    def prepare(self, model_path: Path, cache_dir: Path, calibration=None) -> Path:
        checkpoint_files(Path(model_path))  # one line naming the file when it is not there
        return Path(model_path)

    # -- loadgen process ---------------------------------------------------------------------
    def _select_device(self, torch):
        c = self.config
        if c.device == "cpu":
            return torch.device("cpu")
        if not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"backend=torch device=cuda: torch {torch.__version__} sees no CUDA device "
                "(a CPU build, or no GPU); expected a CUDA build of torch and an NVIDIA GPU"
            )
        count = torch.cuda.device_count()
        if c.device_index >= count:
            raise BackendUnavailableError(
                f"device.index={c.device_index}: expected an index below {count} (CUDA devices)"
            )
        return torch.device("cuda", c.device_index)

    def load(self, model_path: Path) -> None:
        torch = import_torch()
        c = self.config
        if c.threads:
            torch.set_num_threads(c.threads)
        if c.interop_threads and torch.get_num_interop_threads() != c.interop_threads:
            # allowed once per process, before any inter-op work (a loadgen process is fresh)
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(c.interop_threads)
        self._device = self._select_device(torch)
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
        self._dtype = dtype[c.precision]
        model = load_qa_model(Path(model_path), c.attention)
        if c.reduced and c.bf16_mode == "weights":
            model = model.to(self._dtype)
        model = model.to(self._device).eval()
        if self._device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self._device)
        if c.compile:
            model = torch.compile(model, mode=c.compile_mode, dynamic=c.compile_dynamic)
        self.model = model
        self.model_path = str(model_path)
        self._details = {
            "device": str(self._device),
            "weights_dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
        }
        if self._device.type == "cuda":
            self._details["device_name"] = torch.cuda.get_device_name(self._device)

    def _autocast(self, torch):
        c = self.config
        if c.reduced and c.bf16_mode == "autocast":
            return torch.autocast(device_type=self._device.type, dtype=self._dtype)
        return contextlib.nullcontext()

    def _tensor(self, torch, array: np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
        if self._device.type != "cuda":
            return tensor
        if self.config.pin_memory:
            return tensor.pin_memory().to(self._device, non_blocking=True)
        return tensor.to(self._device)

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode(), self._autocast(torch):
            out = self.model(
                input_ids=self._tensor(torch, batch.input_ids),
                attention_mask=self._tensor(torch, batch.input_mask),
                token_type_ids=self._tensor(torch, batch.segment_ids),
            )
            both = torch.stack((out.start_logits, out.end_logits)).float().cpu().numpy()
        return both[0], both[1]

    def info(self) -> BackendInfo:
        torch = import_torch()
        c = self.config
        details = {
            "attention": c.attention,
            "compile": c.compile,
            "compile_mode": c.compile_mode if c.compile else None,
            "compile_dynamic": c.compile_dynamic if c.compile else None,
            "bf16_mode": c.bf16_mode if c.reduced else None,
            "threads_requested": c.threads,
            "inference_mode": True,
            **self._details,
        }
        with contextlib.suppress(Exception):
            import transformers

            details["transformers"] = transformers.__version__
        if self._device is not None and self._device.type == "cuda":
            details["cuda_peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(self._device))
            details["pin_memory"] = c.pin_memory
            details["cuda"] = torch.version.cuda
        return BackendInfo(
            name="torch",
            precision=c.precision,
            engine_version=torch.__version__,
            model_path=self.model_path,
            details=details,
        )

    def close(self) -> None:
        self.model = None
