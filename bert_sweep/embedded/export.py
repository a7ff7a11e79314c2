"""Export the fine-tuned QA model to ONNX with the MLPerf BERT signature, and check it.

The harness feeds `input_ids`, `input_mask`, `segment_ids` (int64) and reads
`output_start_logits`, `output_end_logits` (float32), like the official fp32 model. Both axes are
dynamic so a backend may cut padding. The legacy exporter (`dynamo=False`, opset 17) writes one
self-contained IR-8 file; eager attention keeps the graph fusable by onnxruntime's optimizer.

The export's known-harmless warnings are silenced around the export call only (see
`_harmless_export_warnings`), so a user sees progress, not a wall of tracer notes.

Parity with torch is checked in a fresh process (`parity_in_fresh_process`): in the exporting
process the comparison has shown spurious gaps (REFERENCE §7).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bert_sweep.atomic import atomic_path
from bert_sweep.errors import AssetError

INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")
OUTPUT_NAMES = ("output_start_logits", "output_end_logits")
OPSET = 17
EXPECTED_IR_VERSION = 8


def _signature_module(model):
    """Wrap BertForQuestionAnswering so its forward takes and returns the MLPerf tensors."""
    import torch

    class MLPerfSignature(torch.nn.Module):
        def __init__(self, qa):
            super().__init__()
            self.qa = qa

        def forward(self, input_ids, input_mask, segment_ids):
            out = self.qa(
                input_ids=input_ids,
                attention_mask=input_mask,
                token_type_ids=segment_ids,
                return_dict=True,
            )
            return out.start_logits, out.end_logits

    return MLPerfSignature(model).eval()


@contextmanager
def _harmless_export_warnings() -> Iterator[None]:
    """Ignore exactly the warnings the legacy export of a BERT QA model always prints, each
    known to be harmless here:
    - the legacy TorchScript exporter is deprecated: chosen on purpose (one self-contained
      IR-8 file, see the module docstring); and one of its internal helpers is deprecated;
    - TracerWarning from transformers' masking utilities: a shape comparison (mask length vs
      key length, always equal for BERT) is traced as a constant, which is right for every input
      (the build's parity check compares ONNX with torch on padded and trimmed batches);
    - aten::index exported as several ONNX ops in opset >= 11: a note on the graph, not an error.
    """
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "You are using the legacy TorchScript-based ONNX export", DeprecationWarning
        )
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx\.")
        warnings.filterwarnings(
            "ignore", category=torch.jit.TracerWarning, module=r"transformers\."
        )
        warnings.filterwarnings(
            "ignore", "Exporting aten::index operator", UserWarning, module=r"torch\.onnx\."
        )
        yield


def export_onnx(model, path: Path, opset: int = OPSET) -> Path:
    """Write `model` to `path` atomically as one .onnx file with dynamic batch and sequence."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if getattr(model.config, "_attn_implementation", "eager") != "eager":
        raise AssetError(
            f"{path}: export needs eager attention, model uses "
            f"{model.config._attn_implementation!r}"
        )
    wrapper = _signature_module(model.eval())
    seq = 16
    dummy = (
        torch.full((2, seq), 1000, dtype=torch.int64),
        torch.ones((2, seq), dtype=torch.int64),
        torch.zeros((2, seq), dtype=torch.int64),
    )
    axes = {name: {0: "batch", 1: "seq"} for name in (*INPUT_NAMES, *OUTPUT_NAMES)}
    with atomic_path(path, suffix=".onnx") as tmp:
        with torch.no_grad(), _harmless_export_warnings():
            torch.onnx.export(
                wrapper,
                dummy,
                str(tmp),
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                dynamic_axes=axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        check_signature(tmp)
    return path


def check_signature(path: Path) -> dict:
    """Validate the file and its MLPerf signature; return what was found (for metadata)."""
    import onnx

    path = Path(path)
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises several unrelated types for corrupt files
        raise AssetError(f"{path}: not a valid ONNX model ({exc})") from None
    graph = proto.graph
    int64, float32 = onnx.TensorProto.INT64, onnx.TensorProto.FLOAT

    def describe(values, dtype):
        found = {}
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in t.shape.dim]
            if t.elem_type != dtype or len(dims) != 2 or not all(isinstance(d, str) for d in dims):
                raise AssetError(
                    f"{path}: {v.name} has type {t.elem_type} dims {dims}; expected "
                    f"{onnx.TensorProto.DataType.Name(dtype)} with dynamic [batch, seq]"
                )
            found[v.name] = dims
        return found

    inputs = describe(graph.input, int64)
    outputs = describe(graph.output, float32)
    if tuple(inputs) != INPUT_NAMES or tuple(outputs) != OUTPUT_NAMES:
        raise AssetError(
            f"{path}: inputs {list(inputs)} outputs {list(outputs)}; expected "
            f"{list(INPUT_NAMES)} and {list(OUTPUT_NAMES)}"
        )
    if proto.ir_version != EXPECTED_IR_VERSION:
        raise AssetError(f"{path}: IR version {proto.ir_version}, expected {EXPECTED_IR_VERSION}")
    opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return {"ir_version": proto.ir_version, "opset": opset, "inputs": inputs, "outputs": outputs}


def ort_session(path: Path, threads: int = 2):
    """A CPU onnxruntime session with a fixed thread count (no optimizer extras)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(
    session, input_ids: np.ndarray, input_mask: np.ndarray, segment_ids: np.ndarray, batch: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Start/end logits `[N, seq]` for all rows, batching by length and cutting padding.

    Positions past a batch's longest real sequence get -10000 (they are padding and never a
    valid answer, so post-processing ignores them either way).
    """
    n, seq = input_ids.shape
    lengths = input_mask.astype(np.int64).sum(axis=1)
    start = np.full((n, seq), -10000.0, np.float32)
    end = np.full((n, seq), -10000.0, np.float32)
    order = np.argsort(lengths, kind="stable")
    for lo in range(0, n, batch):
        rows = order[lo : lo + batch]
        width = max(1, int(lengths[rows].max()))
        feeds = {
            "input_ids": input_ids[rows, :width].astype(np.int64),
            "input_mask": input_mask[rows, :width].astype(np.int64),
            "segment_ids": segment_ids[rows, :width].astype(np.int64),
        }
        s, e = session.run(list(OUTPUT_NAMES), feeds)
        start[rows, :width] = s
        end[rows, :width] = e
    return start, end


def parity(onnx_path: Path, torch_dir: Path, arrays: dict, threads: int = 2) -> dict:
    """Max |ONNX - torch| of start/end logits on the given rows (full 384 and trimmed widths).

    Meant to run in a fresh process (see `parity_in_fresh_process`).
    """
    import torch
    from transformers import BertForQuestionAnswering

    torch.set_num_threads(threads)
    model = BertForQuestionAnswering.from_pretrained(str(torch_dir)).eval()
    session = ort_session(onnx_path, threads)
    ids, mask, seg = (np.asarray(arrays[k], np.int64) for k in INPUT_NAMES)
    width = int(mask.sum(axis=1).max())
    worst = 0.0
    agree = 0
    for w in sorted({width, ids.shape[1]}):
        feeds = {"input_ids": ids[:, :w], "input_mask": mask[:, :w], "segment_ids": seg[:, :w]}
        o_start, o_end = session.run(list(OUTPUT_NAMES), feeds)
        with torch.inference_mode():
            out = model(
                input_ids=torch.from_numpy(feeds["input_ids"]),
                attention_mask=torch.from_numpy(feeds["input_mask"]),
                token_type_ids=torch.from_numpy(feeds["segment_ids"]),
            )
        t_start, t_end = out.start_logits.numpy(), out.end_logits.numpy()
        worst = max(
            worst, float(np.abs(o_start - t_start).max()), float(np.abs(o_end - t_end).max())
        )
        agree += int((o_start.argmax(1) == t_start.argmax(1)).sum())
        agree += int((o_end.argmax(1) == t_end.argmax(1)).sum())
    return {
        "max_abs_diff": worst,
        "argmax_agree": agree,
        "compared": 2 * len(ids) * (1 + (width != ids.shape[1])),
    }


def parity_in_fresh_process(onnx_path: Path, torch_dir: Path, arrays: dict) -> dict:
    """Run `parity` in a newly spawned interpreter and return its result."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(parity, Path(onnx_path), Path(torch_dir), arrays).result()
