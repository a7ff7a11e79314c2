"""onnxruntime backend: session options, providers; fp16, int8 (static QDQ or dynamic) and the
transformer optimizer as prepared files.

Prepared models are cached under `<cache_dir>/prepared/`, keyed by everything that changes the
file: the source model's full sha256, every converter/quantizer option, the onnxruntime and onnx
versions and, for static int8, the calibration rows and the features file's sha256 (so a
different model or dataset of the same name never gets another one's file). A file lock keeps
parallel jobs from preparing the same key twice; files are written under a temporary name and
renamed, so nothing half-written is ever found there.

Static int8 calibrates on the features of the run's own dataset that the run does not score
(`Calibration.calibration_rows`), each trimmed to its real length (padding would skew the
activation ranges); which rows, and whether they had to overlap the scored ones, is stated in
`info().details["calibration"]` and the recipe file beside the prepared model.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np

from bert_sweep.assets.digest import digest_dir, sha256_file
from bert_sweep.atomic import atomic_path, write_json_atomic
from bert_sweep.backends.base import Backend, BackendInfo, Batch, Calibration, import_engine
from bert_sweep.backends.onnx.config import OnnxConfig
from bert_sweep.backends.signature import check_signature
from bert_sweep.errors import AssetError, BackendUnavailableError, ConfigError

# Bump when the prepared-model recipe changes so cached files are rebuilt.
PREPARE_FORMAT = 4
INSTALL_HINT = "pip install onnxruntime onnx"


def _ort():
    return import_engine("onnxruntime", "onnx", INSTALL_HINT)


def matching_nodes(model, patterns) -> dict[str, list[str]]:
    """Node names each keep_fp32 entry selects: an op type (exact), else a node-name pattern
    (glob if it has wildcards, else a substring)."""
    nodes = list(model.graph.node)
    ops = {n.op_type for n in nodes}
    out = {}
    for pattern in patterns:
        if pattern in ops:
            names = [n.name for n in nodes if n.op_type == pattern]
        elif any(c in pattern for c in "*?["):
            names = [n.name for n in nodes if fnmatch.fnmatchcase(n.name, pattern)]
        else:
            names = [n.name for n in nodes if pattern in n.name]
        out[pattern] = names
    return out


def attention_shape(model) -> tuple[int, int]:
    """(num_heads, hidden_size) read from the graph: hidden from the first LayerNormalization's
    scale, heads from the attention Reshape's shape `[b, s, heads or -1, head_size]` ((0, 0)
    if not found: the optimizer then detects them itself)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    consts = {}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute:
            with contextlib.suppress(Exception):
                consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    hidden = 0
    for n in model.graph.node:
        if n.op_type == "LayerNormalization" and n.input[1] in inits:
            hidden = int(np.prod(inits[n.input[1]].dims))
            break
    heads = 0
    if hidden:
        for n in model.graph.node:  # Concat(.., [heads], [head_size]) feeding the Q/K/V Reshape
            if n.op_type != "Concat" or "attention" not in n.name or len(n.input) < 2:
                continue
            tail = [consts.get(i, inits.get(i)) for i in n.input[-2:]]
            if all(isinstance(t, np.ndarray) and t.size == 1 for t in tail):
                h, d = (int(t.reshape(-1)[0]) for t in tail)
                if h == -1 and d > 0 and hidden % d == 0:  # view(b, s, -1, head_size)
                    h = hidden // d
                if h > 0 and h * d == hidden:
                    heads = h
                    break
    return (heads, hidden) if heads else (0, 0)


class _Reader:
    """onnxruntime CalibrationDataReader over feature rows, one trimmed row per call."""

    def __init__(self, features, rows, names: dict[str, str]) -> None:
        self.features, self.rows, self.names = features, list(rows), names
        self.lengths = features.lengths()
        self._next, self._stop = 0, len(self.rows)

    def get_next(self):
        if self._next >= min(self._stop, len(self.rows)):
            return None
        row = self.rows[self._next]
        self._next += 1
        n = max(1, int(self.lengths[row]))
        f = self.features
        return {
            self.names["input_ids"]: f.input_ids[row : row + 1, :n].astype(np.int64),
            self.names["input_mask"]: f.input_mask[row : row + 1, :n].astype(np.int64),
            self.names["segment_ids"]: f.segment_ids[row : row + 1, :n].astype(np.int64),
        }

    def __len__(self) -> int:
        return len(self.rows)

    def set_range(self, start_index: int, end_index: int) -> None:
        """ORT's strided calibration (CalibStridedMinMax) reads the rows in slices."""
        self._next, self._stop = start_index, end_index


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
        self.calibration_info: dict | None = None
        self.prepare_info: dict = {}

    # -- parent process ----------------------------------------------------------------------
    def prepare_recipe(
        self, model_path: Path, cache_dir: Path, calibration: Calibration | None = None
    ) -> dict:
        """Everything the prepared file depends on: the source's content and each option."""
        import onnx

        c = self.config
        recipe = {
            "format": PREPARE_FORMAT,
            "model_sha256": sha256_file(model_path, digest_dir(cache_dir)),
            "ort": _ort().__version__,
            "onnx": onnx.__version__,
            "optimize": c.optimize,
            **self.numerics_key(),
        }
        if c.precision == "int8":
            recipe |= {"weight_type": "QInt8", "quantization": c.quantization}
        if c.static_int8:
            rows, _ = self._calibration_rows(calibration)
            recipe |= {
                "quant_format": "QDQ",
                "op_types": ["MatMul"],
                "features_sha256": sha256_file(
                    Path(calibration.features_path), digest_dir(cache_dir)
                ),
                "rows": [rows.start, rows.stop],
                "trimmed": True,
            }
        if c.optimize:
            recipe["optimizer"] = {"model_type": "bert", "use_gpu": c.device == "cuda"}
        return recipe

    def _calibration_rows(self, calibration: Calibration | None) -> tuple[range, bool]:
        n = self.config.calibration_samples
        if calibration is None or n < 1 or calibration.total < 1:
            have = (
                "none given: run it through the pipeline, which passes the run's dataset"
                if calibration is None
                else f"the dataset has {calibration.total} features"
            )
            raise ConfigError(
                f"backend.calibration_samples={n}: expected >= 1 calibration features of the "
                f"run's dataset for precision=int8 backend.quantization=static ({have}; or use "
                "backend.quantization=dynamic)"
            )
        return calibration.calibration_rows(n)

    def prepare(
        self, model_path: Path, cache_dir: Path, calibration: Calibration | None = None
    ) -> Path:
        model_path = Path(model_path)
        check_signature(model_path)
        c = self.config
        if c.precision == "fp32" and not c.optimize:
            return model_path
        recipe = self.prepare_recipe(model_path, cache_dir, calibration)
        if c.static_int8:
            rows, overlaps = self._calibration_rows(calibration)
            self.calibration_info = {
                "source": "the run's dataset features, from its end",
                "features": str(calibration.features_path),
                "rows": f"{rows.start}..{rows.stop - 1}",
                "count": len(rows),
                "scored_rows": f"0..{calibration.scored - 1}",
                "overlaps_scored": overlaps,
                "method": c.calibration_method,
                "why": (
                    "the run scores its first features; calibrating on others keeps the scored "
                    "samples out of quantization"
                    + ("" if not overlaps else " (impossible here: the run scores every feature)")
                ),
            }
        key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
        tag = c.precision + ("-static" if c.static_int8 else "") + ("-opt" if c.optimize else "")
        out = Path(cache_dir) / "prepared" / f"{model_path.stem}-{tag}-{key}.onnx"
        from bert_sweep.locks import file_lock

        out.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(out.with_suffix(".lock")):
            if not out.is_file():
                self.prepare_info = self._build(model_path, out, calibration)
                extra = {"prepared": self.prepare_info}
                if self.calibration_info is not None:
                    extra["calibration"] = self.calibration_info
                write_json_atomic(out.with_suffix(".json"), recipe | extra)
            else:  # what the preparing run recorded (calibration_info is this run's own:
                # the same rows may be scored differently by another run)
                with contextlib.suppress(OSError, ValueError, KeyError):
                    saved = json.loads(out.with_suffix(".json").read_text())
                    self.prepare_info = saved.get("prepared", {})
        return out

    def _build(self, source: Path, out: Path, calibration: Calibration | None) -> dict:
        """Optimize and/or convert `source` into `out` (atomically); returns what was done."""
        import onnx

        c = self.config
        info: dict = {}
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as work:
            current = source
            if c.optimize:
                current = Path(work) / "optimized.onnx"
                info["optimizer"] = self._optimize(source, current)
            with atomic_path(out, suffix=".onnx") as tmp:
                if c.precision == "fp16":
                    from onnxruntime.transformers.float16 import convert_float_to_float16

                    model = convert_float_to_float16(onnx.load(str(current)), keep_io_types=True)
                    onnx.save(model, str(tmp))
                elif c.precision == "int8" and c.quantization == "dynamic":
                    from onnxruntime.quantization import QuantType, quantize_dynamic

                    quantize_dynamic(
                        current,
                        tmp,
                        weight_type=QuantType.QInt8,
                        per_channel=c.quant_per_channel,
                        reduce_range=c.quant_reduce_range,
                        # an optimized model's fused ops lack type info the quantizer needs
                        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                    )
                elif c.static_int8:
                    info["keep_fp32"] = self._quantize_static(current, tmp, calibration)
                else:  # fp32, optimized
                    onnx.save(onnx.load(str(current)), str(tmp))
        return info

    def _optimize(self, source: Path, dest: Path) -> dict:
        import onnx
        from onnxruntime.transformers.optimizer import optimize_model

        heads, hidden = attention_shape(onnx.load(str(source)))
        optimized = optimize_model(
            str(source),
            model_type="bert",
            num_heads=heads,
            hidden_size=hidden,
            use_gpu=self.config.device == "cuda",
        )
        fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        model, inferred = optimized.model, True
        try:  # the fused (contrib) ops carry no types: the histogram calibrators need them
            from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

            model = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
        except Exception:  # an op it does not know: the model is still valid, untyped
            inferred = False
        onnx.save(model, str(dest))
        return {"num_heads": heads, "hidden_size": hidden, "fused": fused, "typed": inferred}

    def _quantize_static(self, source: Path, dest: Path, calibration: Calibration) -> dict:
        import onnx
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )

        from bert_sweep.features.squad_features import Features

        c = self.config
        rows, _ = self._calibration_rows(calibration)
        try:
            features = Features.load(Path(calibration.features_path))
        except (OSError, ValueError, KeyError) as exc:
            raise AssetError(
                f"{calibration.features_path}: calibration features unreadable ({exc})"
            ) from None
        names, _ = check_signature(source)
        model = onnx.load(str(source), load_external_data=False)
        matched = matching_nodes(model, c.keep_fp32)
        exclude = sorted({n for names_ in matched.values() for n in names_})
        method = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[c.calibration_method]
        extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
        if c.calibration_method != "minmax":
            # Histogram methods keep every calibrated tensor of a pass in memory and stack them
            # (trimmed rows differ in length): one row per pass, histograms merged between
            # passes. Minmax keeps only per-row min/max. (Not CalibMaxIntermediateOutputs: in
            # ORT 1.32 it drops the data it clears.)
            extra["CalibStridedMinMax"] = 1
        # the histogram calibrators print a line per pass to stdout (the run's own output)
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                source,
                dest,
                _Reader(features, rows, names),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=["MatMul"],
                per_channel=c.quant_per_channel,
                reduce_range=c.quant_reduce_range,
                activation_type=getattr(QuantType, c.activation_type),
                weight_type=QuantType.QInt8,
                nodes_to_exclude=exclude,
                calibrate_method=method,
                extra_options=extra,
            )
        quantized = onnx.load(str(dest), load_external_data=False)
        return {
            "matched": {p: len(n) for p, n in matched.items()},
            "matmul_int8": sum(
                1
                for n in quantized.graph.node
                if n.op_type == "DequantizeLinear" and n.input[0].endswith("_quantized")
            ),
        }

    # -- loadgen process ---------------------------------------------------------------------
    def load(self, model_path: Path) -> None:
        ort = _ort()
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
        ort = _ort()
        c = self.config
        details = {
            "providers": self.session.get_providers() if self.session else self.providers,
            "intra_op_threads": self.intra_op_threads,
            "inter_op_threads": self.inter_op_threads,
            "execution_mode": self.execution_mode,
            "graph_optimization_level": self.graph_optimization_level,
            "optimize": c.optimize,
        }
        if c.precision == "int8":
            details["quantization"] = c.quantization
        if self.prepare_info:
            details["prepared"] = dict(self.prepare_info)
        if self.calibration_info is not None:
            details["calibration"] = dict(self.calibration_info)
        return BackendInfo(
            name="onnx",
            precision=self.precision,
            engine_version=ort.__version__,
            model_path=self.model_path,
            details=details,
        )

    def close(self) -> None:
        self.session = None
