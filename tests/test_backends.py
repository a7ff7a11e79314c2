"""Backends on real ONNX models: a small random-weight BERT QA graph built by the project."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bert_sweep.backends.base import Batch
from bert_sweep.backends.noop.backend import NoopBackend
from bert_sweep.backends.onnx.backend import OnnxBackend
from bert_sweep.backends.onnx.config import OnnxConfig
from bert_sweep.backends.signature import check_signature
from bert_sweep.config.schema import ModelConfig
from bert_sweep.errors import AssetError, BackendUnavailableError, ConfigError


def _batch(n=4, seq=384, length=40, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, seq), np.int64)
    ids[:, :length] = rng.integers(1000, 30000, size=(n, length))
    mask = np.zeros((n, seq), np.int64)
    mask[:, :length] = 1
    return Batch(ids, mask, np.zeros((n, seq), np.int64))


def test_random_model_is_cached_and_has_the_signature(tiny_model):
    from bert_sweep.assets.random_model import build_random_model

    path, cache = tiny_model
    inputs, outputs = check_signature(path)
    assert inputs == {
        "input_ids": "input_ids",
        "input_mask": "input_mask",
        "segment_ids": "segment_ids",
    }
    assert set(outputs.values()) == {"output_start_logits", "output_end_logits"}
    cfg = ModelConfig(
        name="tiny",
        source="random",
        num_layers=2,
        hidden_size=64,
        num_heads=4,
        intermediate_size=128,
    )
    mtime = path.stat().st_mtime_ns
    assert build_random_model(cfg, cache, progress=False) == path
    assert path.stat().st_mtime_ns == mtime  # not rebuilt


def test_onnx_fp32_predicts_batch_by_seq_logits(tiny_model):
    path, _ = tiny_model
    backend = OnnxBackend(OnnxConfig(intra_op_threads=1))
    backend.load(path)
    start, end = backend.predict(_batch())
    assert start.shape == end.shape == (4, 384) and start.dtype == np.float32
    assert np.isfinite(start).all() and not np.allclose(start, end)
    info = backend.info()
    assert info.details["providers"] == ["CPUExecutionProvider"]
    assert info.details["intra_op_threads"] == 1


def test_padding_beyond_the_mask_does_not_change_real_positions(tiny_model):
    """Why trim_padding is exact: a shorter padded width gives the same logits on real tokens."""
    path, _ = tiny_model
    backend = OnnxBackend()
    backend.load(path)
    full = _batch(seq=384, length=40)
    cut = Batch(
        full.input_ids[:, :64].copy(),
        full.input_mask[:, :64].copy(),
        full.segment_ids[:, :64].copy(),
    )
    s_full, _ = backend.predict(full)
    s_cut, _ = backend.predict(cut)
    np.testing.assert_allclose(s_full[:, :40], s_cut[:, :40], rtol=1e-4, atol=1e-4)


def test_int8_prepare_quantizes_once_and_stays_close(tiny_model):
    """Dynamic int8 (needs no calibration data; static int8: tests/test_onnx_quant.py)."""
    path, cache = tiny_model
    backend = OnnxBackend(OnnxConfig(precision="int8", quantization="dynamic"))
    prepared = backend.prepare(path, cache)
    assert prepared != path and prepared.is_file()
    assert prepared.stat().st_size < path.stat().st_size  # int8 weights
    recipe = json.loads(prepared.with_suffix(".json").read_text())
    assert recipe["precision"] == "int8"
    mtime = prepared.stat().st_mtime_ns
    assert backend.prepare(path, cache) == prepared and prepared.stat().st_mtime_ns == mtime
    other = OnnxBackend(
        OnnxConfig(precision="int8", quantization="dynamic", quant_per_channel=False)
    ).prepare(path, cache)
    assert other != prepared  # a different recipe is a different cache entry
    fp32, int8 = OnnxBackend(), OnnxBackend(OnnxConfig(precision="int8", quantization="dynamic"))
    fp32.load(path)
    int8.load(prepared)
    a, _ = fp32.predict(_batch())
    b, _ = int8.predict(_batch())
    assert np.corrcoef(a[:, :40].ravel(), b[:, :40].ravel())[0, 1] > 0.9


def test_fp32_prepare_returns_the_model(tiny_model):
    path, cache = tiny_model
    assert OnnxBackend().prepare(path, cache) == path


def test_numerics_key_ignores_batch_and_threads():
    a = OnnxBackend(OnnxConfig(batch_size=8, intra_op_threads=1)).numerics_key()
    b = OnnxBackend(OnnxConfig(batch_size=64, intra_op_threads=2)).numerics_key()
    assert a == b == {"backend": "onnx", "precision": "fp32"}
    assert OnnxBackend(OnnxConfig(precision="int8")).numerics_key() != a


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"precision": "bf16"}, "backend=onnx precision"),
        ({"execution_mode": "x"}, "backend.execution_mode"),
        ({"intra_op_threads": -1}, "threads"),
        ({"graph_optimization_level": "max"}, "backend.graph_optimization_level"),
    ],
)
def test_bad_backend_arguments(kwargs, field):
    with pytest.raises(ConfigError, match=f"^{field}="):
        OnnxBackend(OnnxConfig(**kwargs))


def test_missing_provider_is_a_clear_error_not_a_fallback(tiny_model):
    path, _ = tiny_model
    backend = OnnxBackend(OnnxConfig(device="cuda", providers=["CUDAExecutionProvider"]))
    with pytest.raises(BackendUnavailableError, match="CUDAExecutionProvider"):
        backend.load(path)


def test_corrupt_and_missing_models(tmp_path):
    with pytest.raises(AssetError, match="not found"):
        check_signature(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(AssetError, match="ONNX"):
        check_signature(bad)


def test_official_int8_input_names_are_accepted(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    names = ("input_ids", "attention_mask", "token_type_ids")
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["b", 384]) for n in names]
    outputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["b", 384])
        for n in ("output_start_logits", "output_end_logits")
    ]
    nodes = [
        helper.make_node("Identity", ["input_ids"], ["output_start_logits"]),
        helper.make_node("Identity", ["attention_mask"], ["output_end_logits"]),
    ]
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", inputs, outputs)), path)
    inputs_map, _ = check_signature(path)
    assert inputs_map["input_mask"] == "attention_mask"
    assert inputs_map["segment_ids"] == "token_type_ids"


def test_noop_backend_returns_zeros_and_does_not_compute():
    backend = NoopBackend()
    backend.load("unused")
    start, end = backend.predict(_batch(n=3))
    assert start.shape == (3, 384) and not start.any() and not end.any()
    assert backend.computes_model is False
    assert dataclasses.asdict(backend.info())["name"] == "noop"


# -- the warm-up that sizes a noop run (harness/sut.py measure_rate) -------------------------------
@pytest.fixture(scope="module")
def squad_features(shared_data, tmp_path_factory):
    """256+ real SQuAD dev features (the quick profile's QSL size), lengths ~50 to ~380."""
    from bert_sweep.assets.squad import load_squad
    from bert_sweep.assets.vocab import load_tokenizer
    from bert_sweep.features.squad_features import convert_examples_to_features

    examples = load_squad(shared_data / "squad-v1.1-dev.json")[:260]
    tokenizer = load_tokenizer(shared_data / "bert-uncased-vocab.txt")
    features = convert_examples_to_features(examples, tokenizer, progress=False)
    path = tmp_path_factory.mktemp("features") / "features.npz"
    features.save(path)
    return features, path


class _WidthRecorder(NoopBackend):
    """The noop backend, remembering the (rows, width) of every batch it is given."""

    def __init__(self, config=None):
        super().__init__(config)
        self.shapes: list[tuple[int, int]] = []

    def predict(self, batch):
        self.shapes.append(batch.input_ids.shape)
        return super().predict(batch)


def test_warm_up_forms_batches_as_the_offline_query_does(squad_features):
    """Trimmed, length-sorted Offline batches are narrow: the warm-up must time those widths."""
    from bert_sweep.harness.qsl import FeatureQSL
    from bert_sweep.harness.sut import BatchingSUT

    features, _ = squad_features
    qsl = FeatureQSL(features, sample_rows=list(range(256)))
    backend = _WidthRecorder()
    sut = BatchingSUT(
        backend, qsl, "Offline", batch_size=32, trim_padding=True, sort_by_length=True
    )
    assert sut.measure_rate(batches=1) > 0
    timed = backend.shapes[1:]  # the first call is the untimed session warm-up
    ordered = np.sort(qsl.lengths)
    query_widths = {int(ordered[lo : lo + 32].max()) for lo in range(0, 256, 32)}
    assert {w for _, w in timed} == query_widths  # every batch of the sorted query, no other
    assert {n for n, _ in timed} == {32}
    # a no-compute backend is timed over many calls, not one call's noise
    assert len(timed) > 10 * len(query_widths)


def test_noop_quick_run_is_valid(compose, squad_features, tmp_path):
    """`backend=noop` on the default profile: the warm-up rate must size a query that lasts
    min_duration, whatever the machine's speed (the query is sized from the measured rate)."""
    from bert_sweep.harness.runner import run_test
    from bert_sweep.harness.spec import TestSpec
    from bert_sweep.pipeline import loadgen_settings

    _, cfg = compose(["backend=noop"])
    _, path = squad_features
    n = cfg.profile.max_samples
    spec = TestSpec(
        mode="performance",
        scenario=cfg.scenario.name,
        output_dir=str(tmp_path / "perf"),
        features_path=str(path),
        backend=cfg.backend,
        model_path="",
        batch_size=cfg.backend.batch_size,
        workers=cfg.harness.workers,
        sample_rows=list(range(n)),
        settings=loadgen_settings(cfg, n),
        auto_target=cfg.scenario.target_qps is None,
        target_factor=cfg.scenario.qps_factor,
        warmup_batches=cfg.profile.warmup_batches,
    )
    log = run_test(spec, timeout_s=120).log
    assert log["validity"] == "VALID", (log["invalid_reasons"], log["result"])
    assert log["effective"]["min_duration_ms"] == cfg.profile.min_duration_ms
