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
from bert_sweep.errors import AssetError, BackendUnavailableError, field_error

# Canonical MLPerf input names, and the names the official int8 model uses for the same tensors.
INPUT_ALIASES = {
    "input_ids": ("input_ids",),
    "input_mask": ("input_mask", "attention_mask"),
    "segment_ids": ("segment_ids", "token_type_ids"),
}
OUTPUT_ALIASES = {
    "start": ("output_start_logits", "start_logits"),
    "end": ("output_end_logits", "end_logits"),
}
PRECISIONS = ("fp32", "int8")
EXECUTION_MODES = ("sequential", "parallel")
OPT_LEVELS = ("disable", "basic", "extended", "all")
# Bump when the prepared-model recipe changes so cached files are rebuilt.
PREPARE_FORMAT = 2


def _resolve_names(available: list[str], aliases: dict, kind: str, path: Path) -> dict[str, str]:
    resolved = {}
    for canonical, names in aliases.items():
        match = next((n for n in names if n in available), None)
        if match is None:
            wanted = ", ".join(" or ".join(v) for v in aliases.values())
            raise AssetError(
                f"{path}: ONNX {kind} {sorted(available)} do not match the MLPerf BERT "
                f"signature (expected {wanted})"
            )
        resolved[canonical] = match
    return resolved


def check_signature(model_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Validate an ONNX file's graph inputs/outputs; returns (input map, output map)."""
    import onnx

    model_path = Path(model_path)
    if not model_path.is_file():
        raise AssetError(f"{model_path}: model file not found")
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError/ValueError/etc. for corrupt files
        raise AssetError(
            f"{model_path}: not a readable ONNX model ({type(exc).__name__})"
        ) from None
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    outputs = [o.name for o in model.graph.output]
    return (
        _resolve_names(inputs, INPUT_ALIASES, "inputs", model_path),
        _resolve_names(outputs, OUTPUT_ALIASES, "outputs", model_path),
    )


class OnnxBackend(Backend):
    name = "onnx"

    def __init__(
        self,
        name: str = "onnx",
        precision: str = "fp32",
        batch_size: int = 1,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        execution_mode: str = "sequential",
        graph_optimization_level: str = "all",
        providers: list[str] | tuple[str, ...] = ("CPUExecutionProvider",),
        quant_per_channel: bool = False,
        quant_reduce_range: bool = False,
        **_: object,
    ) -> None:
        if precision not in PRECISIONS:
            raise field_error("precision", precision, f"one of {list(PRECISIONS)} for backend=onnx")
        if execution_mode not in EXECUTION_MODES:
            raise field_error("backend.execution_mode", execution_mode, str(list(EXECUTION_MODES)))
        if graph_optimization_level not in OPT_LEVELS:
            raise field_error(
                "backend.graph_optimization_level", graph_optimization_level, str(list(OPT_LEVELS))
            )
        for field, value in (
            ("threads", intra_op_threads),
            ("backend.inter_op_threads", inter_op_threads),
        ):
            if int(value) < 0:
                raise field_error(field, value, "an integer >= 0 (0 = onnxruntime default)")
        self.precision = precision
        self.batch_size = int(batch_size)
        self.intra_op_threads = int(intra_op_threads)
        self.inter_op_threads = int(inter_op_threads)
        self.execution_mode = execution_mode
        self.graph_optimization_level = graph_optimization_level
        self.providers = list(providers)
        self.quant_per_channel = bool(quant_per_channel)
        self.quant_reduce_range = bool(quant_reduce_range)
        self.session = None
        self.model_path = ""

    # -- parent process ----------------------------------------------------------------------
    def numerics_key(self) -> dict:
        key = {"backend": self.name, "precision": self.precision}
        if self.precision == "int8":
            key |= {"per_channel": self.quant_per_channel, "reduce_range": self.quant_reduce_range}
        return key

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

    def prepare(self, model_path: Path, cache_dir: Path) -> Path:
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
