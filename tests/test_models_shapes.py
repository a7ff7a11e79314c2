"""Models checked when resolved: input dims against the `[batch, 384]` batches the harness feeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from bert_sweep.assets.resolve import check_input_shapes, resolve_model
from bert_sweep.config.schema import AssetsConfig, ModelConfig
from bert_sweep.errors import AssetError

INPUTS = ("input_ids", "input_mask", "segment_ids")


def tiny_onnx(path: Path, dims: list) -> Path:
    """A graph with the MLPerf signature whose three inputs have `dims` (str = dynamic)."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in INPUTS]
    outputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, dims)
        for n in ("output_start_logits", "output_end_logits")
    ]
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["output_start_logits"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["input_mask"], ["output_end_logits"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(nodes, "tiny", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _resolve(path: Path, tmp_path: Path, batch_size: int | None = None):
    model = ModelConfig(name="file", source="file", file=str(path))
    return resolve_model(model, AssetsConfig(cache_dir=str(tmp_path / "cache")), batch_size)


def test_dynamic_axes_are_accepted_and_trimming_is_possible(tmp_path):
    resolved = _resolve(tiny_onnx(tmp_path / "m.onnx", ["batch", "seq"]), tmp_path)
    assert resolved.dynamic_sequence is True


def test_a_fixed_384_sequence_is_accepted_without_trimming(tmp_path):
    resolved = _resolve(tiny_onnx(tmp_path / "m.onnx", ["batch", 384]), tmp_path)
    assert resolved.dynamic_sequence is False


@pytest.mark.parametrize(
    ("dims", "shown"),
    [
        ([8, 176], "[8, 176]"),  # what deepsparse's in-place rewrite leaves (REFERENCE §4)
        ([8, 384], "[8, 384]"),  # fixed batch: partial batches would fail mid-test
        (["batch", 176], "[batch, 176]"),  # fixed short sequence: features are 384 wide
        (["batch"], "[batch]"),
    ],
)
def test_fixed_shapes_are_one_line_errors_naming_file_and_dims(tmp_path, dims, shown):
    path = tiny_onnx(tmp_path / "fixed.onnx", dims)
    with pytest.raises(AssetError) as err:
        _resolve(path, tmp_path, batch_size=8)
    assert str(err.value) == (
        f"model.file={path}: input input_ids has shape {shown}; expected [batch, 384] "
        "with a dynamic batch axis (fixed only as 1, with batch=1)"
    )


def test_a_batch_axis_fixed_to_one_is_accepted_only_with_batch_1(tmp_path):
    path = tiny_onnx(tmp_path / "b1.onnx", [1, 384])
    assert check_input_shapes(path, "m", batch_size=1) is False
    with pytest.raises(AssetError, match=r"shape \[1, 384\]"):
        check_input_shapes(path, "m", batch_size=2)


def test_a_file_that_is_not_onnx_is_left_to_the_backend(tmp_path):
    path = tmp_path / "placeholder.onnx"
    path.write_bytes(b"the noop backend never reads its model file")
    assert _resolve(path, tmp_path).dynamic_sequence is None


@pytest.mark.parametrize("dims", [[8, 176], ["batch", 128]])
def test_cli_refuses_a_fixed_shape_model_with_exit_2(run_cli, tmp_path, dims):
    path = tiny_onnx(tmp_path / "fixed.onnx", dims)
    proc = run_cli("model=file", f"model.file={path}", "tracking=none", "batch=8", timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    shown = "[" + ", ".join(str(d) for d in dims) + "]"
    assert (
        f"model.file={path}: input input_ids has shape {shown}; expected [batch, 384]" in (lines[0])
    )
    assert "Traceback" not in proc.stderr + proc.stdout
