"""backend=onnx prepared models: static QDQ int8 calibrated on unscored features, fp16, the
transformer optimizer; their cache keys, their errors, and a real loadgen run.

Tolerances (start/end logits vs onnxruntime fp32 on real tokens):
- optimizer (fused Attention/LayerNorm, same float32 math): 1e-4 absolute (the brief's bound);
- fp16: 1 % of the largest fp32 logit plus 1e-3 (fp16 keeps 11 mantissa bits, ~0.05 % per op);
- static int8, tiny random model: 5 % of the largest fp32 logit; embedded model: argmax of start
  and end agrees on >= 90 % of features (int8 moves logits by whole units there: what counts is
  the answer span, and F1 is checked directly).
F1 on the embedded model (the point of static int8): the default recipe keeps >= 0.99 of the fp32
F1 on the synthetic dev features it did not calibrate on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bert_sweep.backends.base import Batch, Calibration
from bert_sweep.backends.onnx.backend import OnnxBackend, attention_shape
from bert_sweep.backends.onnx.config import KEEP_FP32, OnnxConfig
from bert_sweep.errors import ConfigError
from bert_sweep.report.record import RunRecord


@pytest.fixture(scope="module")
def synthetic(embedded, cache_dir):
    """(features, examples, features path, tokenizer) of the embedded model's synthetic dev."""
    from bert_sweep.assets.vocab import load_tokenizer, packaged_vocab
    from bert_sweep.features.squad_features import load_or_build_features

    features, examples, path = load_or_build_features(
        embedded.dev_path, packaged_vocab(), cache_dir, progress=False
    )
    return features, examples, path, load_tokenizer(packaged_vocab())


def _rows_batch(features, rows, width: int | None = None) -> Batch:
    rows = np.asarray(rows)
    width = width or int(features.lengths()[rows].max())
    return Batch(
        *(a[rows, :width].astype(np.int64) for a in (features.input_ids, features.input_mask,
                                                     features.segment_ids))
    )  # fmt: skip


def _logits(backend: OnnxBackend, features, rows, batch: int = 16):
    """Start/end logits `[len(rows), 384]` (batches of similar length, padding cut)."""
    rows = np.asarray(rows)
    seq = features.input_ids.shape[1]
    start = np.full((len(rows), seq), -1e4, np.float32)
    end = np.full((len(rows), seq), -1e4, np.float32)
    order = np.argsort(features.lengths()[rows], kind="stable")
    for lo in range(0, len(rows), batch):
        pick = order[lo : lo + batch]
        b = _rows_batch(features, rows[pick])
        s, e = backend.predict(b)
        start[pick, : s.shape[1]], end[pick, : e.shape[1]] = s, e
    return start, end


def _f1(features, examples, tokenizer, rows, logits) -> float:
    from bert_sweep.evaluation.postprocess import predictions_from_logits
    from bert_sweep.evaluation.squad_metrics import score_examples

    picked = features.select(np.asarray(rows))
    predictions = predictions_from_logits(examples, picked, *logits, tokenizer)
    owners = sorted(set(picked.example_index.tolist()))
    return score_examples([examples[i] for i in owners], predictions).f1


def _loaded(config: OnnxConfig, model, cache, calibration=None) -> OnnxBackend:
    backend = OnnxBackend(config)
    backend.load(backend.prepare(model, cache, calibration))
    return backend


# -- tiny random model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_model, synthetic):
    """Tiny model, its cache, a calibration over the synthetic features (last 32 unscored),
    a batch of 4 real features and the fp32 logits on it."""
    path, cache = tiny_model
    features, _, features_path, _ = synthetic
    calibration = Calibration(str(features_path), total=len(features), scored=len(features) - 32)
    batch = _rows_batch(features, range(4))
    fp32 = OnnxBackend()
    fp32.load(path)
    return path, cache, calibration, batch, fp32.predict(batch)


def _real(batch: Batch) -> np.ndarray:
    return batch.input_mask.astype(bool)


def test_static_int8_on_the_tiny_model_is_close_and_says_where_it_calibrated(tiny):
    path, cache, calibration, batch, (want, _) = tiny
    config = OnnxConfig(precision="int8", calibration_samples=16)
    backend = _loaded(config, path, cache, calibration)
    got, _ = backend.predict(batch)
    real = _real(batch)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert not np.allclose(got[real], want[real], atol=1e-5)  # really quantized
    assert np.abs(got - want)[real].max() <= 0.05 * np.abs(want[real]).max()
    info = backend.info().details
    total = calibration.total
    assert info["calibration"]["rows"] == f"{total - 16}..{total - 1}"
    assert info["calibration"]["overlaps_scored"] is False
    assert info["quantization"] == "static"
    prepared = info["prepared"]["keep_fp32"]
    assert prepared["matmul_int8"] > 0 and set(prepared["matched"]) == set(KEEP_FP32)
    recipe = json.loads(Path(backend.model_path).with_suffix(".json").read_text())
    assert recipe["rows"] == [total - 16, total] and recipe["quant_format"] == "QDQ"


def test_calibration_rows_never_overlap_the_scored_ones_unless_every_row_is_scored(tiny):
    path, cache, calibration, _, _ = tiny
    total = calibration.total
    few = Calibration(calibration.features_path, total=total, scored=total - 8)
    backend = OnnxBackend(OnnxConfig(precision="int8", calibration_samples=64))
    backend.prepare(path, cache, few)
    info = backend.info().details["calibration"]
    assert info["count"] == 8 and info["overlaps_scored"] is False  # only the unscored ones
    assert info["rows"] == f"{total - 8}..{total - 1}" and info["scored_rows"] == f"0..{total - 9}"
    every = Calibration(calibration.features_path, total=total, scored=total)
    backend = OnnxBackend(OnnxConfig(precision="int8", calibration_samples=8))
    backend.prepare(path, cache, every)
    info = backend.info().details["calibration"]
    assert info["overlaps_scored"] is True and "impossible here" in info["why"]


@pytest.mark.parametrize(
    "change",
    [
        {"calibration_samples": 8},
        {"calibration_method": "minmax"},
        {"quant_per_channel": False},
        {"quant_reduce_range": True},
        {"activation_type": "QInt8"},
        {"keep_fp32": ["qa_outputs"]},
        {"optimize": True},
        {"quantization": "dynamic"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_each_option_is_its_own_cache_entry_and_a_same_config_reuses_the_file(tiny, change):
    path, cache, calibration, _, _ = tiny
    base = {"precision": "int8", "calibration_samples": 16}
    first = OnnxBackend(OnnxConfig(**base)).prepare(path, cache, calibration)
    mtime = first.stat().st_mtime_ns
    assert OnnxBackend(OnnxConfig(**base)).prepare(path, cache, calibration) == first
    assert first.stat().st_mtime_ns == mtime  # reused, not quantized again
    other = OnnxBackend(OnnxConfig(**(base | change)))
    assert other.prepare(path, cache, calibration) != first
    assert OnnxConfig(**(base | change)).numerics_key() != OnnxConfig(**base).numerics_key()


def test_other_features_or_rows_are_another_cache_entry(tiny, tmp_path):
    path, cache, calibration, _, _ = tiny
    config = OnnxConfig(precision="int8", calibration_samples=16)
    first = OnnxBackend(config).prepare(path, cache, calibration)
    moved = Calibration(calibration.features_path, total=calibration.total - 1, scored=0)
    assert OnnxBackend(config).prepare(path, cache, moved) != first  # other rows
    from bert_sweep.features.squad_features import Features

    features = Features.load(calibration.features_path)
    features.input_ids[-1, 1] = 2000  # one token of a calibration row
    edited = tmp_path / "features.npz"
    features.save(edited)
    again = Calibration(str(edited), total=calibration.total, scored=calibration.scored)
    assert OnnxBackend(config).prepare(path, cache, again) != first  # other features sha256


@pytest.mark.parametrize("calibration", [None, "empty"], ids=["none", "empty-dataset"])
def test_static_int8_without_calibration_data_is_one_line_and_writes_nothing(
    tiny_model, tmp_path, tiny, calibration
):
    path = tmp_path / "model.onnx"
    shutil.copy(tiny_model[0], path)
    cache = tmp_path / "cache"
    if calibration == "empty":
        calibration = Calibration(tiny[2].features_path, total=0, scored=0)
    backend = OnnxBackend(OnnxConfig(precision="int8", calibration_samples=16))
    with pytest.raises(ConfigError) as info:
        backend.prepare(path, cache, calibration)
    text = str(info.value)
    assert text.startswith("backend.calibration_samples=16: expected >= 1 calibration")
    assert "\n" not in text and "backend.quantization=dynamic" in text
    assert not list(cache.rglob("*.onnx"))  # nothing half-written


def test_zero_calibration_samples_is_refused_by_the_config_for_static_int8_only():
    with pytest.raises(ConfigError) as info:
        OnnxConfig(precision="int8", calibration_samples=0)
    text = str(info.value)
    assert text.startswith("backend.calibration_samples=0: expected an integer >= 1")
    assert "backend.quantization=dynamic" in text and "\n" not in text
    OnnxConfig(precision="int8", quantization="dynamic", calibration_samples=0)
    OnnxConfig(calibration_samples=0)  # fp32: not used


def test_fp16_runs_on_the_cpu_provider_with_float32_io(tiny):
    path, cache, _, batch, (want, want_end) = tiny
    backend = _loaded(OnnxConfig(precision="fp16"), path, cache)
    import onnx

    model = onnx.load(backend.model_path)
    assert any(
        i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer
    )  # weights are fp16
    assert {o.type.tensor_type.elem_type for o in model.graph.output} == {onnx.TensorProto.FLOAT}
    assert {i.type.tensor_type.elem_type for i in model.graph.input} == {onnx.TensorProto.INT64}
    start, end = backend.predict(batch)
    real = _real(batch)
    assert start.dtype == np.float32
    for got, ref in ((start, want), (end, want_end)):
        assert np.abs(got - ref)[real].max() <= 0.01 * np.abs(ref[real]).max() + 1e-3


def test_optimizer_fuses_and_stays_within_1e_4(tiny):
    path, cache, _, batch, (want, want_end) = tiny
    backend = _loaded(OnnxConfig(optimize=True), path, cache)
    info = backend.info().details["prepared"]["optimizer"]
    assert (info["num_heads"], info["hidden_size"]) == (4, 64)  # read from the graph
    assert info["fused"].get("Attention") == 2 and info["fused"].get("SkipLayerNormalization")
    start, end = backend.predict(batch)
    real = _real(batch)
    np.testing.assert_allclose(start[real], want[real], rtol=0, atol=1e-4)
    np.testing.assert_allclose(end[real], want_end[real], rtol=0, atol=1e-4)


@pytest.mark.parametrize("quantization", ["static", "dynamic"])
def test_int8_of_an_optimized_model(tiny, quantization):
    path, cache, calibration, batch, (want, _) = tiny
    config = OnnxConfig(
        precision="int8", quantization=quantization, optimize=True, calibration_samples=16
    )
    backend = _loaded(config, path, cache, calibration)
    got, _ = backend.predict(batch)
    real = _real(batch)
    assert np.abs(got - want)[real].max() <= 0.05 * np.abs(want[real]).max()
    prepared = backend.info().details["prepared"]
    assert prepared["optimizer"]["typed"]  # types for the fused ops (histogram calibration)
    if quantization == "static":
        assert prepared["keep_fp32"]["matmul_int8"] > 0


def test_attention_shape_is_read_from_the_graph(tiny_model):
    import onnx

    assert attention_shape(onnx.load(str(tiny_model[0]))) == (4, 64)


@pytest.mark.parametrize("provider", ["CUDAExecutionProvider", "TensorrtExecutionProvider"])
def test_gpu_provider_on_device_cpu_is_refused_in_the_config(provider):
    with pytest.raises(ConfigError) as info:
        OnnxConfig(providers=[provider])
    text = str(info.value)
    assert text.startswith("backend.providers=") and "device=cuda" in text
    assert "CPUExecutionProvider" in text and "\n" not in text
    OnnxConfig(device="cuda", providers=[provider])  # allowed where it can run


def test_gpu_provider_on_device_cpu_through_the_cli_config(compose):
    with pytest.raises(ConfigError, match=r"^backend.providers=\['CUDAExecutionProvider'\]"):
        compose(["backend.providers=[CUDAExecutionProvider]"])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"quantization": "qat"}, "backend.quantization"),
        ({"calibration_method": "mse"}, "backend.calibration_method"),
        ({"activation_type": "QInt4"}, "backend.activation_type"),
        ({"calibration_samples": -1}, "backend.calibration_samples"),
        ({"keep_fp32": [""]}, "backend.keep_fp32"),
    ],
)
def test_bad_quantization_options_are_one_line(fields, field):
    with pytest.raises(ConfigError, match=f"^{field}="):
        OnnxConfig(precision="int8", **fields)


def test_knobs_and_options_compose(compose):
    _, cfg = compose(
        ["precision=int8", "backend.quantization=static", "backend.keep_fp32=[qa_outputs]"]
    )
    assert cfg.backend.static_int8 and cfg.backend.keep_fp32 == ["qa_outputs"]
    _, cfg = compose(["precision=fp16"])
    assert cfg.backend.precision == "fp16"


# -- embedded model: the default recipe keeps bert-99 ------------------------------------------


@pytest.fixture(scope="module")
def embedded_fp32(embedded, synthetic):
    features, examples, _, tokenizer = synthetic
    backend = OnnxBackend(OnnxConfig(intra_op_threads=2))
    backend.load(embedded.model_path)
    rows = np.arange(len(features) - OnnxConfig().calibration_samples)  # all but the calibration
    logits = _logits(backend, features, rows)
    return rows, logits, _f1(features, examples, tokenizer, rows, logits)


@pytest.mark.slow
def test_default_static_int8_keeps_bert99_on_the_embedded_model(
    embedded, synthetic, embedded_fp32, tmp_path_factory
):
    features, examples, features_path, tokenizer = synthetic
    rows, (want_start, want_end), f1_fp32 = embedded_fp32
    cache = tmp_path_factory.mktemp("cache")  # quantized here, not found in an earlier cache
    calibration = Calibration(str(features_path), total=len(features), scored=len(rows))
    backend = _loaded(
        OnnxConfig(precision="int8", intra_op_threads=2), embedded.model_path, cache, calibration
    )
    assert backend.info().details["calibration"]["overlaps_scored"] is False
    start, end = _logits(backend, features, rows)
    agree = np.mean(
        (start.argmax(1) == want_start.argmax(1)) & (end.argmax(1) == want_end.argmax(1))
    )
    assert agree >= 0.9
    f1 = _f1(features, examples, tokenizer, rows, (start, end))
    print(f"static int8 F1 {f1:.3f} / fp32 {f1_fp32:.3f} = {f1 / f1_fp32:.4f}, agree {agree:.3f}")
    assert f1 / f1_fp32 >= 0.99


@pytest.mark.slow
def test_optimizer_on_the_embedded_model_stays_within_1e_4(embedded, synthetic, embedded_fp32):
    features = synthetic[0]
    rows, (want, _), _ = embedded_fp32
    backend = _loaded(OnnxConfig(optimize=True, intra_op_threads=2), embedded.model_path,
                      embedded.folder.parent.parent)  # fmt: skip
    assert backend.info().details["prepared"]["optimizer"]["fused"]["Attention"] == 6
    pick = rows[:64]
    start, _ = _logits(backend, features, pick)
    real = features.input_mask[pick].astype(bool)
    np.testing.assert_allclose(start[real], want[:64][real], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_static_int8_through_the_cli_and_loadgen(run_cli, embedded, tmp_path):
    """profile=test scores every feature: the calibration rows must overlap, and say so."""
    run_dir = tmp_path / "run"
    proc = run_cli(
        "backend=onnx",
        "precision=int8",
        "backend.quantization=static",
        "profile=test",
        "profile.min_query_count=256",
        "batch=8",
        "threads=2",
        "harness.trim_padding=true",
        "harness.sort_by_length=true",
        "tracking=none",
        "assets.progress=false",
        run_dir=run_dir,
        timeout=1500,
    )
    record = RunRecord.read(run_dir)
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    assert record.ok and record.precision == "int8"
    assert record.accuracy.numerics["quantization"] == "static"
    calibration = record.backend_info["details"]["calibration"]
    assert calibration["overlaps_scored"] is True and calibration["count"] == 128
    assert record.backend_info["details"]["providers"] == ["CPUExecutionProvider"]
    assert record.performance.samples_per_second > 0
