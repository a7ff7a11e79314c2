"""A model with one weight edited mid-file (same size) is a different model everywhere a model
keys a cache: accuracy reuse, int8 prepared models."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import struct
from pathlib import Path

import pytest

from bert_sweep.backends.onnx.backend import OnnxBackend
from bert_sweep.backends.onnx.config import OnnxConfig

MIB = 1 << 20


def edit_one_weight(path: Path, value: float) -> str:
    """Set one float of a weight matrix to `value`, in place: same size, outside the first and
    last MiB, mtime put back. A dense layer's weight nearest the middle when there is one (it
    acts on every token), else the element at the middle of the file. Returns the tensor name."""
    import onnx

    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    spans = []  # (offset of the tensor's data in the file, its size, name, dense?)
    for t in onnx.load(str(path)).graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2 and len(t.raw_data) >= 256:
            offset = data.find(t.raw_data[:256])
            spans.append((offset, len(t.raw_data), t.name, "embeddings" not in t.name))
    dense = [s for s in spans if s[3] and MIB < s[0] < len(data) - MIB - 4]
    if dense:
        offset, _, name, _ = min(dense, key=lambda s: abs(s[0] - middle))
    else:
        start, _, name, _ = next(s for s in spans if s[0] <= middle < s[0] + s[1])
        offset = start + (middle - start) // 4 * 4
    data[offset : offset + 4] = struct.pack("<f", value)
    before = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    return name


def test_int8_prepared_model_is_keyed_by_the_source_content(tmp_path, tiny_model):
    model = tmp_path / "model.onnx"
    shutil.copy(tiny_model[0], model)
    cache = tmp_path / "cache"
    backend = OnnxBackend(OnnxConfig(precision="int8", quantization="dynamic"))
    first = backend.prepare(model, cache)
    recipe = json.loads(first.with_suffix(".json").read_text())
    assert {"model_sha256", "ort", "per_channel", "reduce_range", "weight_type"} <= set(recipe)
    edit_one_weight(model, 1000.0)
    second = backend.prepare(model, cache)
    assert second != first and second.is_file()  # re-quantized, not the old model's int8 file
    assert (
        json.loads(second.with_suffix(".json").read_text())["model_sha256"]
        != (recipe["model_sha256"])
    )


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.mark.slow
def test_accuracy_of_an_edited_model_is_measured_again_not_reused(run_cli, tmp_path, embedded):
    original = tmp_path / "original.onnx"
    shutil.copy(embedded.model_path, original)
    edited = tmp_path / "edited.onnx"
    shutil.copy(embedded.model_path, edited)
    # A value of its own each time: the accuracy store is shared across test sessions, and an
    # edit seen before (same content) would rightly be reused from that earlier measurement.
    edit_one_weight(edited, 1e4 + secrets.randbelow(10**6))
    common = ["dataset=synthetic", "tracking=none", "harness.trim_padding=true"]

    first = run_cli("model=file", f"model.file={original}", *common, run_dir=tmp_path / "a")
    assert first.returncode == 0, first.stderr[-3000:]
    a = _results(tmp_path / "a")["accuracy"]
    second = run_cli("model=file", f"model.file={edited}", *common, run_dir=tmp_path / "b")
    assert second.returncode == 0, second.stderr[-3000:]
    b = _results(tmp_path / "b")["accuracy"]
    assert not b["reused"] and "[reused]" not in second.stdout
    assert (tmp_path / "b" / "accuracy" / "mlperf_log_accuracy.json").is_file()  # measured
    assert b["n_samples"] == a["n_samples"]
    assert b["f1"] != a["f1"], (a["f1"], b["f1"])
