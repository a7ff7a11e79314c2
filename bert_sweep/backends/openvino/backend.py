"""OpenVINO runtime: reads the project's ONNX directly; int8 through NNCF.

Why the inputs are reshaped to `[-1, -1]`: trimmed batches (harness.trim_padding) and the last,
short batch of a query have other shapes than the model was exported with; a dynamic model
compiles once and takes them all. Why INFERENCE_PRECISION_HINT is always set: on a CPU with
BF16 support OpenVINO may pick bf16 by itself, and fp32 must mean f32.

int8: `nncf.quantize` (transformer model type) on calibration features chosen as described in
config.py, each trimmed to its real length (padding would skew the activation ranges). The
quantized IR is cached under `<cache_dir>/prepared/`, keyed by the source's sha256, the features
file's sha256, the calibration rows, every quantization option and the openvino/nncf versions;
a lock keeps parallel jobs from quantizing the same model twice. Compiled models are cached by
OpenVINO itself under `<cache_dir>/openvino/` (its CACHE_DIR property).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np

from bert_sweep.assets.digest import digest_dir, sha256_file
from bert_sweep.atomic import write_json_atomic
from bert_sweep.backends.base import Backend, BackendInfo, Batch, Calibration, import_engine
from bert_sweep.backends.openvino.config import INFERENCE_PRECISION, OpenvinoConfig
from bert_sweep.backends.signature import INPUT_ALIASES, OUTPUT_ALIASES, check_signature
from bert_sweep.errors import AssetError, BackendUnavailableError, ConfigError

INSTALL_HINT = "pip install openvino nncf"
PREPARE_FORMAT = 1  # bump when the int8 recipe changes


def import_openvino():
    """The openvino module, or BackendUnavailableError with the install command."""
    return import_engine("openvino", "openvino", INSTALL_HINT)


def import_nncf():
    try:
        import nncf
    except Exception as exc:
        first = " ".join(str(exc).split())[:120]
        raise BackendUnavailableError(
            f"backend=openvino precision=int8: cannot import nncf ({first}); "
            f"install: {INSTALL_HINT}"
        ) from None
    return nncf


def _names(ports, aliases: dict, kind: str, path: Path) -> dict[str, str]:
    """Canonical name -> the model's name for each MLPerf tensor (any of a port's names)."""
    out = {}
    for canonical, wanted in aliases.items():
        match = next((n for p in ports for n in p.get_names() if n in wanted), None)
        if match is None:
            have = sorted(n for p in ports for n in p.get_names())
            raise AssetError(f"{path}: OpenVINO model {kind} {have} lack one of {list(wanted)}")
        out[canonical] = match
    return out


def _dynamic(ov, model):
    model.reshape({port: ov.PartialShape([-1, -1]) for port in model.inputs})
    return model


def _text(value) -> str:
    """A property value as text (element types by their short name: f32, bf16)."""
    name = getattr(value, "get_type_name", None)
    return name() if callable(name) else str(value)


class OpenvinoBackend(Backend):
    def __init__(self, config: OpenvinoConfig | None = None) -> None:
        super().__init__(config or OpenvinoConfig())
        self.compiled = None
        self.model_path = ""
        self.calibration_info: dict | None = None
        self._local = threading.local()
        self._actual: dict = {}

    # -- parent process ----------------------------------------------------------------------
    def prepare(
        self, model_path: Path, cache_dir: Path, calibration: Calibration | None = None
    ) -> Path:
        ov = import_openvino()
        model_path = Path(model_path)
        check_signature(model_path)
        if self.precision != "int8":
            return model_path
        nncf = import_nncf()
        if calibration is None:
            raise ConfigError(
                "precision=int8 backend=openvino: needs calibration features (run it through "
                "the pipeline, which passes the run's dataset)"
            )
        c = self.config
        rows, overlaps = calibration.calibration_rows(c.calibration_samples)
        features_sha = sha256_file(Path(calibration.features_path), digest_dir(cache_dir))
        recipe = {
            "format": PREPARE_FORMAT,
            "model_sha256": sha256_file(model_path, digest_dir(cache_dir)),
            "features_sha256": features_sha,
            "rows": [rows.start, rows.stop],
            "openvino": ov.__version__,
            "nncf": nncf.__version__,
            "preset": c.quant_preset,
            "model_type": "transformer",
            "trimmed": True,
            **c.numerics_key(),
        }
        self.calibration_info = {
            "source": "the run's dataset features, from its end",
            "rows": f"{rows.start}..{rows.stop - 1}",
            "count": len(rows),
            "scored_rows": f"0..{calibration.scored - 1}",
            "overlaps_scored": overlaps,
            "why": (
                "the run scores its first features; calibrating on others keeps the scored "
                "samples out of quantization"
                + ("" if not overlaps else " (impossible here: the run scores every feature)")
            ),
        }
        key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
        out = Path(cache_dir) / "prepared" / f"{model_path.stem}-openvino-int8-{key}.xml"
        from bert_sweep.locks import file_lock

        out.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(out.with_suffix(".lock")):
            if not (out.is_file() and out.with_suffix(".bin").is_file()):
                self._quantize(ov, nncf, model_path, calibration, rows, out)
                write_json_atomic(
                    out.with_suffix(".json"), recipe | {"calibration": self.calibration_info}
                )
            else:  # what the quantizing run recorded (accuracy control adds its figures)
                with contextlib.suppress(OSError, ValueError, KeyError):
                    saved = json.loads(out.with_suffix(".json").read_text())
                    self.calibration_info = saved["calibration"]
        return out

    def _quantize(self, ov, nncf, source: Path, calibration: Calibration, rows, out: Path):
        from bert_sweep.features.squad_features import Features

        features = Features.load(Path(calibration.features_path))
        model = _dynamic(ov, ov.Core().read_model(str(source)))
        names = _names(model.inputs, INPUT_ALIASES, "inputs", source)
        lengths = features.lengths()

        def sample(row: int) -> dict:
            n = max(1, int(lengths[row]))
            return {
                names["input_ids"]: features.input_ids[row : row + 1, :n].astype(np.int64),
                names["input_mask"]: features.input_mask[row : row + 1, :n].astype(np.int64),
                names["segment_ids"]: features.segment_ids[row : row + 1, :n].astype(np.int64),
            }

        data = nncf.Dataset([sample(r) for r in rows])
        preset = {
            "performance": nncf.QuantizationPreset.PERFORMANCE,
            "mixed": nncf.QuantizationPreset.MIXED,
        }[self.config.quant_preset]
        options = {
            "preset": preset,
            "model_type": nncf.ModelType.TRANSFORMER,
            "subset_size": len(rows),
        }
        if not self.config.accuracy_control:
            quantized = nncf.quantize(model, data, **options)
        else:
            items, validate = self._validation(features, rows, calibration, sample, source)
            quantized = nncf.quantize_with_accuracy_control(
                model,
                data,
                nncf.Dataset(items),
                validate,
                max_drop=1.0 - self.config.accuracy_target,
                drop_type=nncf.DropType.RELATIVE,
                **options,
            )
        # the IR is a pair (.xml, .bin): write both under temporary names, then rename the .bin
        # first, so a complete .xml always has its .bin
        tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.xml")
        try:
            ov.save_model(quantized, str(tmp), compress_to_fp16=False)
            os.replace(tmp.with_suffix(".bin"), out.with_suffix(".bin"))
            os.replace(tmp, out)
        finally:
            for leftover in (tmp, tmp.with_suffix(".bin")):
                leftover.unlink(missing_ok=True)

    def _validation(self, features, rows, calibration: Calibration, sample, source: Path):
        """Validation items (the feature rows of each example wholly inside `rows`) and the
        F1 function NNCF's accuracy control calls on a compiled model (mean, per example)."""
        from bert_sweep.assets.vocab import load_tokenizer
        from bert_sweep.evaluation.postprocess import predictions_from_logits
        from bert_sweep.evaluation.squad_metrics import score_examples

        if not calibration.examples or not calibration.vocab_path:
            raise ConfigError(
                "backend.accuracy_control=true: needs the run's examples and vocab (run it "
                "through the pipeline)"
            )
        examples = calibration.examples
        tokenizer = load_tokenizer(Path(calibration.vocab_path))
        owner = features.example_index
        inside = np.zeros(len(features), bool)
        inside[np.asarray(rows)] = True
        items = []
        for example in np.unique(owner[np.asarray(rows)]):
            members = np.flatnonzero(owner == example)
            if inside[members].all():
                items.append(members.tolist())
        if not items:
            raise ConfigError(
                f"backend.calibration_samples={self.config.calibration_samples}: no example has "
                "all its features among the calibration rows; expected a larger subset"
            )
        if self.calibration_info is not None:
            self.calibration_info["accuracy_control"] = {
                "validation_examples": len(items),
                "metric": "F1 on the calibration rows' whole examples",
                "max_relative_drop": round(1.0 - self.config.accuracy_target, 6),
            }

        def validate(compiled, data) -> tuple[float, list[float]]:
            out = _names(compiled.outputs, OUTPUT_ALIASES, "outputs", source)
            scores = []
            for members in data:
                picked = features.select(np.asarray(members))
                start = np.full(picked.input_ids.shape, -1e4, np.float32)
                end = np.full(picked.input_ids.shape, -1e4, np.float32)
                for i, row in enumerate(members):
                    result = compiled(sample(row))
                    width = result[compiled.output(out["start"])].shape[1]
                    start[i, :width] = result[compiled.output(out["start"])][0]
                    end[i, :width] = result[compiled.output(out["end"])][0]
                predictions = predictions_from_logits(examples, picked, start, end, tokenizer)
                example = examples[int(owner[members[0]])]
                scores.append(score_examples([example], predictions).f1)
            return float(np.mean(scores)), scores

        return items, validate

    # -- loadgen process ---------------------------------------------------------------------
    def load(self, model_path: Path) -> None:
        ov = import_openvino()
        c = self.config
        core = ov.Core()
        if c.cache_dir:
            cache = Path(c.cache_dir) / "openvino"
            cache.mkdir(parents=True, exist_ok=True)
            core.set_property({"CACHE_DIR": str(cache)})
        try:
            model = _dynamic(ov, core.read_model(str(model_path)))
        except RuntimeError as exc:
            first = " ".join(str(exc).split())[:200]
            raise AssetError(f"{model_path}: OpenVINO cannot read it ({first})") from None
        self.inputs = _names(model.inputs, INPUT_ALIASES, "inputs", Path(model_path))
        self.outputs = _names(model.outputs, OUTPUT_ALIASES, "outputs", Path(model_path))
        props = {
            "PERFORMANCE_HINT": c.performance_hint,
            "INFERENCE_PRECISION_HINT": INFERENCE_PRECISION[c.precision],
        }
        if c.num_streams:
            props["NUM_STREAMS"] = str(c.num_streams)
        if c.inference_num_threads:
            props["INFERENCE_NUM_THREADS"] = c.inference_num_threads
        self.compiled = core.compile_model(model, "CPU", props)
        self._actual = {
            key: _text(self.compiled.get_property(key))
            for key in (
                "PERFORMANCE_HINT",
                "INFERENCE_PRECISION_HINT",
                "NUM_STREAMS",
                "INFERENCE_NUM_THREADS",
            )
        }
        self._actual["cpu_capabilities"] = list(
            core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        )
        self.model_path = str(model_path)

    def _request(self):
        """One infer request per SUT worker thread (a request is not thread-safe)."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        request = self._request()
        request.infer(
            {
                self.inputs["input_ids"]: batch.input_ids,
                self.inputs["input_mask"]: batch.input_mask,
                self.inputs["segment_ids"]: batch.segment_ids,
            }
        )
        start = request.get_tensor(self.outputs["start"]).data
        end = request.get_tensor(self.outputs["end"]).data
        # copies: the request's output buffers are reused by its next inference
        return np.array(start, np.float32), np.array(end, np.float32)

    def info(self) -> BackendInfo:
        ov = import_openvino()
        c = self.config
        details = {
            "performance_hint": c.performance_hint,
            "num_streams": c.num_streams,
            "inference_num_threads": c.inference_num_threads,
            "inference_precision_hint": INFERENCE_PRECISION[c.precision],
            "dynamic_shapes": True,
            "compiled_model_cache": str(Path(c.cache_dir) / "openvino") if c.cache_dir else None,
        }
        if self._actual:
            details["compiled"] = dict(self._actual)
        if self.calibration_info is not None:
            details["calibration"] = dict(self.calibration_info)
        return BackendInfo(
            name="openvino",
            precision=c.precision,
            engine_version=ov.__version__,
            model_path=self.model_path,
            details=details,
        )

    def close(self) -> None:
        self.compiled = None
        self._local = threading.local()
