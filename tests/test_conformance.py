"""Conformance: every registered backend x every precision it declares for the CPU, on the
embedded model, against onnxruntime fp32 on the same features.

The matrix is read from the registry (`BACKENDS` and each config's `SUPPORTED["cpu"]`), so a new
backend or precision is tested without an edit here; what cannot run on this machine (an engine
that is not installed, a venv that cannot be made) is skipped with the engine's own one-line
reason, which `pytest -ra` prints.

Each case runs the backend the way a run does (config dataclass -> `make_backend` -> `prepare`
with the run's Calibration -> `load` -> `predict`), over whole examples of the embedded model's
held-out synthetic dev split, in batches of 8 trimmed to their longest real sample (the padding
is masked, so trimming is exact; engines with static shapes pad to their own buckets). Calibration
takes the dataset's unscored tail, never the scored rows.

Stated bounds (max abs difference of start/end logits on real positions; F1 as a ratio of the
onnxruntime fp32 F1 on the same questions):
- fp32: logits within 1e-3 (same float32 maths, other kernels and fusions); F1 ratio >= 0.995
- bf16 / fp16: logits within 4 % of the largest fp32 logit + 0.05 (8 / 11 mantissa bits, errors
  add up over 6 layers); F1 ratio >= 0.98
- int8: logits correlate with fp32 >= 0.95 on real positions (a per-element bound says little
  for int8); F1 ratio >= 0.95. Whether a given int8 keeps bert-99 is what the search's accuracy
  constraint decides per configuration, not this conformance bound.
"""

from __future__ import annotations

import numpy as np
import pytest

from bert_sweep.backends.base import Batch, Calibration
from bert_sweep.backends.registry import BACKENDS, backend_name
from bert_sweep.errors import BackendUnavailableError

pytestmark = pytest.mark.slow

BATCH = 8
EXAMPLES = 160  # whole examples scored (about 170 features)
LOGIT_ABS = {"fp32": 1e-3}
LOGIT_REL = {"bf16": (0.04, 0.05), "fp16": (0.04, 0.05)}  # (x largest |logit|, + absolute)
INT8_CORRELATION = 0.95
F1_RATIO = {"fp32": 0.995, "bf16": 0.98, "fp16": 0.98, "int8": 0.95}

CASES = [
    pytest.param(cls, precision, id=f"{backend_name(cls)}-{precision}")
    for cls in BACKENDS
    if cls.COMPUTES_MODEL
    for precision in cls.SUPPORTED.get("cpu", ())
]


@pytest.fixture(scope="module")
def data(embedded, cache_dir):
    from bert_sweep.assets.vocab import load_tokenizer, packaged_vocab
    from bert_sweep.features.squad_features import load_or_build_features

    features, examples, path = load_or_build_features(
        embedded.dev_path, packaged_vocab(), cache_dir, progress=False
    )
    rows = np.flatnonzero(features.example_index < EXAMPLES)
    assert rows.tolist() == list(range(len(rows)))  # whole examples, the first rows
    calibration = Calibration(
        str(path), len(features), len(rows), examples=tuple(examples), vocab_path=None
    )
    return {
        "subset": features.select(rows),
        "examples": examples,
        "scored": examples[:EXAMPLES],
        "calibration": calibration,
        "tokenizer": load_tokenizer(packaged_vocab()),
    }


def _batches(features):
    lengths = features.lengths()
    for i in range(0, len(features), BATCH):
        width = int(lengths[i : i + BATCH].max())
        cut = slice(i, i + BATCH)
        yield (
            cut,
            Batch(
                features.input_ids[cut, :width].astype(np.int64),
                features.input_mask[cut, :width].astype(np.int64),
                features.segment_ids[cut, :width].astype(np.int64),
            ),
        )


def _run(config, model_path, cache_dir, calibration, features, tmp_path):
    from bert_sweep.harness.runner import make_backend

    backend = make_backend(config, tmp_path)
    try:
        prepared = backend.prepare(model_path, cache_dir, calibration)
        backend.load(prepared)
        start = np.zeros(features.input_ids.shape, np.float32)
        end = np.zeros_like(start)
        for cut, batch in _batches(features):
            s, e = backend.predict(batch)
            width = batch.input_ids.shape[1]
            assert s.shape == e.shape == (len(batch), width), s.shape
            start[cut, :width], end[cut, :width] = s, e
        return start, end
    finally:
        backend.close()


def _f1(data, start, end) -> float:
    from bert_sweep.evaluation.postprocess import predictions_from_logits
    from bert_sweep.evaluation.squad_metrics import score_examples

    predictions = predictions_from_logits(
        data["examples"], data["subset"], start, end, data["tokenizer"]
    )
    return score_examples(data["scored"], predictions).f1


@pytest.fixture(scope="module")
def reference(data, embedded, cache_dir, tmp_path_factory):
    from bert_sweep.backends.onnx.config import OnnxConfig

    start, end = _run(
        OnnxConfig(batch_size=BATCH, intra_op_threads=2),
        embedded.model_path,
        cache_dir,
        data["calibration"],
        data["subset"],
        tmp_path_factory.mktemp("reference"),
    )
    return start, end, _f1(data, start, end)


@pytest.mark.parametrize(("cls", "precision"), CASES)
def test_backend_matches_onnxruntime_fp32(cls, precision, data, reference, cache_dir, tmp_path):
    from bert_sweep.assets.resolve import resolve_model
    from bert_sweep.config.schema import AssetsConfig, ModelConfig

    name = backend_name(cls)
    config = cls(precision=precision, batch_size=BATCH, device="cpu")
    resolved = resolve_model(
        ModelConfig(name="embedded", source="embedded"),
        AssetsConfig(cache_dir=str(cache_dir), progress=False),
        BATCH,
        model_format=cls.MODEL_FORMAT,
    )
    try:
        start, end = _run(
            config,
            resolved.path_for(cls.MODEL_FORMAT),
            cache_dir,
            data["calibration"],
            data["subset"],
            tmp_path,
        )
    except BackendUnavailableError as exc:
        pytest.skip(f"{name} {precision}: {exc}")
    ref_start, ref_end, ref_f1 = reference
    real = data["subset"].input_mask.astype(bool)
    got = np.concatenate([start[real], end[real]])
    want = np.concatenate([ref_start[real], ref_end[real]])
    diff = float(np.abs(got - want).max())
    if precision in LOGIT_ABS:
        assert diff <= LOGIT_ABS[precision], f"{name} {precision}: max abs logit diff {diff}"
    elif precision in LOGIT_REL:
        scale, plus = LOGIT_REL[precision]
        bound = scale * float(np.abs(want).max()) + plus
        assert diff <= bound, f"{name} {precision}: max abs logit diff {diff} > {bound:.3f}"
    else:
        corr = float(np.corrcoef(got, want)[0, 1])
        assert corr >= INT8_CORRELATION, f"{name} {precision}: logit correlation {corr:.4f}"
        assert diff > 0, f"{name} int8 gave exactly the fp32 logits: nothing was quantized"
    f1 = _f1(data, start, end)
    ratio = f1 / ref_f1
    print(f"{name} {precision}: max abs logit diff {diff:.5f}, F1 {f1:.3f} ratio {ratio:.4f}")
    assert ratio >= F1_RATIO[precision], f"{name} {precision}: F1 {f1:.3f} / {ref_f1:.3f}"


def test_the_matrix_covers_every_backend_and_precision():
    """The matrix is the registry's: each computing backend appears with each CPU precision."""
    ids = {p.id for p in CASES}
    for cls in BACKENDS:
        for precision in cls.SUPPORTED.get("cpu", ()) if cls.COMPUTES_MODEL else ():
            assert f"{backend_name(cls)}-{precision}" in ids
    assert "onnx-fp32" in ids and "openvino-bf16" in ids and "torch-bf16" in ids
