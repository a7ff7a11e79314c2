"""onnxruntime backend: session options, providers, and int8 by dynamic quantization.

A quantized model is cached under `<cache_dir>/prepared/`, keyed by the source model's full sha256
and every option that changes the quantized file (the quantizer's settings and version), so a
different model of the same name and size never gets another model's int8 file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from bert_sweep.assets.digest import digest_dir, sha256_file
from bert_sweep.atomic import atomic_path, write_json_atomic
from bert_sweep.backends.base import Backend, BackendInfo, Batch
from bert_sweep.backends.onnx.config import OnnxConfig
from bert_sweep.backends.signature import check_signature
from bert_sweep.errors import AssetError, BackendUnavailableError

# Bump when the prepared-model recipe changes so cached files are rebuilt.
PREPARE_FORMAT = 2


class OnnxBackend(Backend):
    def __init__(self, config: OnnxConfig | None = None) -> None:
        super().__init__(config or OnnxConfig())
        c = self.config
        self.batch_size = c.batch_size
        self.intra_op_threads = c.intra_op_threads
        self.inter_op_threads = c.inter_op_threads
        self.execution_mode = c.execution_mode
        self.graph_optimization_level = c.graph_optimization_level
        self.providers = list(c.providers)
        self.quant_per_channel = c.quant_per_channel
        self.quant_reduce_range = c.quant_reduce_range
        self.session = None
        self.model_path = ""

    # -- parent process ----------------------------------------------------------------------
    def prepare_recipe(self, model_path: Path, cache_dir: Path) -> dict:
        """Everything the prepared file depends on: the source's content and each option."""
        import onnxruntime

        return {
            "format": PREPARE_FORMAT,
            "model_sha256": sha256_file(model_path, digest_dir(cache_dir)),
            "ort": onnxruntime.__version__,
            "weight_type": "QInt8",
            "per_channel": self.quant_per_channel,
            "reduce_range": self.quant_reduce_range,
            **self.numerics_key(),
        }

    def prepare(self, model_path: Path, cache_dir: Path, calibration=None) -> Path:
        model_path = Path(model_path)
        check_signature(model_path)
        if self.precision == "fp32":
            return model_path
        recipe = self.prepare_recipe(model_path, cache_dir)
        key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
        out = Path(cache_dir) / "prepared" / f"{model_path.stem}-{self.precision}-{key}.onnx"
        if out.is_file():
            return out
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with atomic_path(out, suffix=".onnx") as tmp:
            quantize_dynamic(
                model_path,
                tmp,
                weight_type=QuantType.QInt8,
                per_channel=self.quant_per_channel,
                reduce_range=self.quant_reduce_range,
            )
        write_json_atomic(out.with_suffix(".json"), recipe)
        return out

    # -- loadgen process ---------------------------------------------------------------------
    def load(self, model_path: Path) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        missing = [p for p in self.providers if p not in available]
        if missing:
            raise BackendUnavailableError(
                f"backend.providers: {missing} not available in onnxruntime {ort.__version__} "
                f"(available: {available})"
            )
        self.inputs, outputs = check_signature(Path(model_path))
        self.output_names = [outputs["start"], outputs["end"]]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.intra_op_threads
        opts.inter_op_num_threads = self.inter_op_threads
        opts.execution_mode = (
            ort.ExecutionMode.ORT_PARALLEL
            if self.execution_mode == "parallel"
            else ort.ExecutionMode.ORT_SEQUENTIAL
        )
        opts.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.graph_optimization_level]
        try:
            self.session = ort.InferenceSession(str(model_path), opts, providers=self.providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise AssetError(f"{model_path}: onnxruntime cannot load it ({exc})") from None
        self.model_path = str(model_path)

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        feed = {
            self.inputs["input_ids"]: batch.input_ids,
            self.inputs["input_mask"]: batch.input_mask,
            self.inputs["segment_ids"]: batch.segment_ids,
        }
        start, end = self.session.run(self.output_names, feed)
        return start.astype(np.float32, copy=False), end.astype(np.float32, copy=False)

    def info(self) -> BackendInfo:
        import onnxruntime as ort

        return BackendInfo(
            name="onnx",
            precision=self.precision,
            engine_version=ort.__version__,
            model_path=self.model_path,
            details={
                "providers": self.session.get_providers() if self.session else self.providers,
                "intra_op_threads": self.intra_op_threads,
                "inter_op_threads": self.inter_op_threads,
                "execution_mode": self.execution_mode,
                "graph_optimization_level": self.graph_optimization_level,
            },
        )

    def close(self) -> None:
        self.session = None
