"""backend=openvino on the tiny random BERT: numerics against onnxruntime fp32, int8 through NNCF
calibrated on features the run does not score, a real loadgen run through the CLI, bad input.

Tolerances (max abs difference of start/end logits vs onnxruntime fp32, every position):
- fp32: 1e-4 (same float32 arithmetic, other kernels);
- bf16: 2 % of the largest fp32 logit, plus 1e-3 (bf16 keeps 8 mantissa bits: ~0.4 % per op);
- int8: correlation with fp32 above 0.9 on real tokens, and not identical to it.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from bert_sweep.backends.base import Batch, Calibration
from bert_sweep.backends.onnx.backend import OnnxBackend
from bert_sweep.backends.openvino.backend import OpenvinoBackend
from bert_sweep.backends.openvino.config import OpenvinoConfig
from bert_sweep.errors import BackendUnavailableError, ConfigError
from bert_sweep.report.record import RunRecord
from tests.conftest import SHARED_DATA, requires_shared_data

pytest.importorskip("openvino", reason="backend=openvino needs `pip install openvino nncf`")


def _batch(n: int = 4, seq: int = 128, length: int = 90, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 30000, (n, seq)).astype(np.int64)
    mask = np.zeros((n, seq), np.int64)
    mask[:, :length] = 1
    ids[mask == 0] = 0
    seg = np.zeros((n, seq), np.int64)
    seg[:, 30:length] = 1
    return Batch(ids, mask, seg)


@pytest.fixture(scope="module")
def reference(tiny_model):
    path, _ = tiny_model
    backend = OnnxBackend()
    backend.load(path)
    return backend.predict(_batch())


def _openvino(tiny_model, **fields) -> OpenvinoBackend:
    path, cache = tiny_model
    backend = OpenvinoBackend(OpenvinoConfig(cache_dir=str(cache), **fields))
    backend.load(backend.prepare(path, cache))
    return backend


def test_fp32_matches_onnxruntime(tiny_model, reference):
    backend = _openvino(tiny_model, precision="fp32")
    for got, want in zip(backend.predict(_batch()), reference, strict=True):
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    info = backend.info()
    assert info.name == "openvino" and info.engine_version.startswith("20")
    assert info.details["compiled"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert (tiny_model[1] / "openvino").is_dir()  # compiled-model cache


def test_bf16_within_its_tolerance_and_really_bf16(tiny_model, reference):
    backend = _openvino(tiny_model, precision="bf16")
    start, end = backend.predict(_batch())
    for got, want in ((start, reference[0]), (end, reference[1])):
        assert np.abs(got - want).max() <= 0.02 * np.abs(want).max() + 1e-3
    if "BF16" in backend.info().details["compiled"]["cpu_capabilities"]:
        assert backend.info().details["compiled"]["INFERENCE_PRECISION_HINT"] == "bf16"
        assert not np.array_equal(start, reference[0])  # the hint was applied


def test_trimmed_and_short_batches_run(tiny_model):
    """Dynamic shapes: any batch size and width (trim_padding, the last short batch)."""
    backend = _openvino(tiny_model, precision="fp32")
    full = _batch(n=3, seq=384, length=40)
    cut = Batch(*(a[:2, :48].copy() for a in (full.input_ids, full.input_mask, full.segment_ids)))
    s_full, _ = backend.predict(full)
    s_cut, _ = backend.predict(cut)
    assert s_cut.shape == (2, 48)
    np.testing.assert_allclose(s_full[:2, :40], s_cut[:, :40], atol=1e-4)


@pytest.fixture(scope="module")
def features_path(shared_data, tmp_path_factory):
    """64 real SQuAD dev features."""
    from bert_sweep.assets.squad import load_squad
    from bert_sweep.assets.vocab import load_tokenizer
    from bert_sweep.features.squad_features import convert_examples_to_features

    examples = load_squad(shared_data / "squad-v1.1-dev.json")[::150][:64]
    tokenizer = load_tokenizer(shared_data / "bert-uncased-vocab.txt")
    features = convert_examples_to_features(examples, tokenizer, progress=False)
    path = tmp_path_factory.mktemp("features") / "features.npz"
    features.save(path)
    return path, len(features), examples


def test_calibration_rows_avoid_the_scored_samples():
    assert Calibration("f", total=100, scored=64).calibration_rows(16) == (range(84, 100), False)
    assert Calibration("f", total=100, scored=90).calibration_rows(16) == (range(90, 100), False)
    assert Calibration("f", total=100, scored=100).calibration_rows(16) == (range(84, 100), True)


def test_int8_quantizes_on_unscored_rows_once_and_differs_a_little(
    tiny_model, features_path, reference
):
    path, cache = tiny_model
    features, total, _ = features_path
    calibration = Calibration(str(features), total=total, scored=total - 24)
    config = OpenvinoConfig(precision="int8", calibration_samples=16, cache_dir=str(cache))
    backend = OpenvinoBackend(config)
    prepared = backend.prepare(path, cache, calibration)
    assert prepared.suffix == ".xml" and prepared.with_suffix(".bin").is_file()
    recipe = json.loads(prepared.with_suffix(".json").read_text())
    assert recipe["rows"] == [total - 16, total]
    assert recipe["calibration"]["overlaps_scored"] is False
    mtime = prepared.stat().st_mtime_ns
    again = OpenvinoBackend(config)
    assert again.prepare(path, cache, calibration) == prepared
    assert prepared.stat().st_mtime_ns == mtime  # cached, not quantized again
    other = OpenvinoConfig(precision="int8", calibration_samples=8, cache_dir=str(cache))
    assert OpenvinoBackend(other).prepare(path, cache, calibration) != prepared

    backend.load(prepared)
    start, _ = backend.predict(_batch())
    want = reference[0]
    assert not np.allclose(start, want, atol=1e-4)  # quantized: not the fp32 numbers
    assert np.corrcoef(start[:, :90].ravel(), want[:, :90].ravel())[0, 1] > 0.9
    info = backend.info().details["calibration"]
    assert info["count"] == 16 and info["overlaps_scored"] is False


def test_int8_with_accuracy_control_keeps_its_own_cache_entry_and_says_what_it_checked(
    tiny_model, features_path
):
    """nncf.quantize_with_accuracy_control with max relative drop 1 - target, on F1 of the
    calibration rows' whole examples (random weights: the F1 itself means nothing here)."""
    path, cache = tiny_model
    features, total, examples = features_path
    calibration = Calibration(
        str(features),
        total=total,
        scored=total - 24,
        examples=tuple(examples),
        vocab_path=str(SHARED_DATA / "bert-uncased-vocab.txt"),
    )
    fields = {"precision": "int8", "calibration_samples": 16, "cache_dir": str(cache)}
    plain = OpenvinoBackend(OpenvinoConfig(**fields)).prepare(path, cache, calibration)
    config = OpenvinoConfig(accuracy_control=True, accuracy_target=0.999, **fields)
    backend = OpenvinoBackend(config)
    prepared = backend.prepare(path, cache, calibration)
    assert prepared != plain and prepared.with_suffix(".bin").is_file()
    control = backend.info().details["calibration"]["accuracy_control"]
    assert control["max_relative_drop"] == pytest.approx(0.001)
    assert 1 <= control["validation_examples"] <= 16
    cached = OpenvinoBackend(config)  # a cache hit reports what the quantizing run checked
    assert cached.prepare(path, cache, calibration) == prepared
    assert cached.info().details["calibration"]["accuracy_control"] == control
    assert config.numerics_key() != OpenvinoConfig(**fields).numerics_key()
    assert "accuracy control" in config.weight_transformations({})


def test_accuracy_control_target_is_the_runs(compose):
    _, cfg = compose(["backend=openvino", "precision=int8", "backend.accuracy_control=true"])
    assert cfg.backend.accuracy_target == cfg.target == 0.99
    _, cfg = compose(["backend=openvino", "target=0.999"])
    assert cfg.backend.accuracy_target == 0.999


def test_int8_without_calibration_data_is_a_clear_error(tiny_model):
    path, cache = tiny_model
    with pytest.raises(ConfigError, match="precision=int8 backend=openvino: needs calibration"):
        OpenvinoBackend(OpenvinoConfig(precision="int8")).prepare(path, cache)


def test_missing_openvino_is_one_line_with_the_pip_command(tiny_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what an absent package looks like
    with pytest.raises(BackendUnavailableError) as info:
        OpenvinoBackend(OpenvinoConfig()).load(tiny_model[0])
    text = str(info.value)
    assert text.startswith("backend=openvino: cannot import openvino")
    assert "pip install openvino nncf" in text and "\n" not in text


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        (["precision=fp16"], "backend=openvino precision=fp16 device=cpu", "fp32|bf16|int8"),
        (["precision=bf16", "device=cuda"], "device=cuda", "expected device cpu"),
        (["backend.performance_hint=FAST"], "backend.performance_hint='FAST'", "LATENCY"),
        (["backend.num_streams=-1"], "backend.num_streams=-1", ">= 0"),
    ],
)
def test_bad_openvino_config(compose, overrides, field, expected):
    with pytest.raises(ConfigError) as info:
        compose(["backend=openvino", *overrides])
    text = str(info.value)
    assert field in text and expected in text and "\n" not in text


def test_knobs_reach_the_openvino_config(compose):
    _, cfg = compose(["backend=openvino", "precision=bf16", "threads=2", "batch=8"])
    c = cfg.backend
    assert (c.precision, c.inference_num_threads, c.batch_size, c.device) == ("bf16", 2, 8, "cpu")
    assert c.cache_dir == cfg.assets.cache_dir


def test_cli_bad_precision_exits_2_with_one_line(run_cli):
    proc = run_cli("backend=openvino", "precision=fp16", timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("bert_sweep: error: backend=openvino precision=fp16 device=cpu")
    assert "fp32|bf16|int8" in lines[-1] and "Traceback" not in proc.stderr


@pytest.mark.slow
@requires_shared_data()
def test_openvino_run_under_loadgen(run_cli, tiny_model, tmp_path):
    """The real CLI, loadgen and SQuAD features: the record names OpenVINO and its version."""
    import openvino

    path, _ = tiny_model
    run_dir = tmp_path / "run"
    proc = run_cli(
        "backend=openvino",
        "precision=bf16",
        "model=file",
        f"model.file={path}",
        "dataset=squad",
        f"assets.mirror={SHARED_DATA}",
        "profile.max_samples=64",
        "tracking=none",
        "assets.progress=false",
        run_dir=run_dir,
    )
    record = RunRecord.read(run_dir)
    # random weights on SQuAD: a FAIL verdict (exit 3), never a crash
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert record.ok and record.backend == "openvino" and record.precision == "bf16"
    assert record.backend_info["name"] == "openvino"
    assert record.backend_info["engine_version"] == openvino.__version__
    assert record.packages["openvino"] and "nncf" in record.packages
    assert record.performance.samples_per_second > 0
    assert record.accuracy.numerics == {"backend": "openvino", "precision": "bf16"}
    compiled = record.backend_info["details"]["compiled"]  # as the loadgen process loaded it
    if "BF16" in compiled["cpu_capabilities"]:
        assert compiled["INFERENCE_PRECISION_HINT"] == "bf16"
