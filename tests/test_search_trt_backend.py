"""The TensorRT backend as far as this machine allows: config, missing package, fp16 model prep.

TensorRT cannot be installed here (REFERENCE.md §4), so the engine build and run are not
exercised; what runs without it is tested for real: the one-line unavailable error a sweep
records, the schema, and the float16 ONNX conversion the fp16 engine is built from.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bert_sweep.errors import BackendUnavailableError, ConfigError

HAS_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed: the unavailable path cannot happen")
def test_missing_tensorrt_is_one_line_with_install_hint(tiny_model, tmp_path):
    from bert_sweep.backends.trt.backend import TrtBackend
    from bert_sweep.backends.trt.config import TrtConfig

    path, _ = tiny_model
    for call in (lambda b: b.prepare(path, tmp_path), lambda b: b.load(path)):
        with pytest.raises(BackendUnavailableError) as info:
            call(TrtBackend(TrtConfig(precision="fp16", batch_size=8)))
        text = str(info.value)
        assert text.startswith("backend=trt: cannot import tensorrt")
        assert "--extra-index-url https://pypi.nvidia.com" in text and "\n" not in text


def test_trt_config_composes_and_rejects_bad_values(compose):
    _, cfg = compose(["backend=trt", "precision=fp16", "batch=64", "device=cuda"])
    assert cfg.backend.name == "trt" and cfg.backend.precision == "fp16"
    assert cfg.backend.batch_size == 64 and cfg.backend.device == "cuda"
    with pytest.raises(
        ConfigError,
        match=r"^backend=trt precision=bf16 device=cuda: expected precision fp32\|fp16\|int8 "
        r"on cuda",
    ):
        compose(["backend=trt", "precision=bf16", "device=cuda"])
    with pytest.raises(
        ConfigError, match=r"^backend=trt precision=fp16 device=cpu: expected device cuda"
    ):
        compose(["backend=trt", "precision=fp16"])
    with pytest.raises(ConfigError, match=r"builder_optimization_level=9: expected 0\.\.5"):
        compose(["backend=trt", "device=cuda", "backend.builder_optimization_level=9"])


def test_fp16_model_keeps_io_types_and_matches_fp32(tiny_model, tmp_path):
    import onnx
    import onnxruntime as ort

    from bert_sweep.backends.trt.backend import to_fp16_onnx

    path, _ = tiny_model
    half = to_fp16_onnx(path, tmp_path)
    mtime = half.stat().st_mtime_ns
    assert to_fp16_onnx(path, tmp_path) == half and half.stat().st_mtime_ns == mtime  # cached
    graph = onnx.load(str(half)).graph
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.initializer)
    elem = onnx.TensorProto
    assert {i.type.tensor_type.elem_type for i in graph.input} == {elem.INT64}
    assert {o.type.tensor_type.elem_type for o in graph.output} == {elem.FLOAT}

    rng = np.random.default_rng(0)
    ids = np.zeros((2, 384), np.int64)
    ids[:, :50] = rng.integers(1000, 30000, size=(2, 50))
    mask = (ids > 0).astype(np.int64)
    feed = {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids)}
    outs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feed)
        for p in (path, half)
    ]
    for full, reduced in zip(*outs, strict=True):
        assert reduced.dtype == np.float32
        assert np.abs(full - reduced)[:, :50].max() < 0.05 * (np.abs(full).max() + 1.0)
