"""Read loadgen's `mlperf_log_accuracy.json` back into logits and score it.

Each entry is `{"seq_id", "qsl_idx", "data": HEX}` where data is the response bytes the SUT
handed to loadgen: float32 `[seq, 2]` row-major, start and end logits interleaved (3,072 bytes for
seq 384). A sample may appear more than once (loadgen may issue it repeatedly); like the reference
(a dict keyed by sample), the last entry wins.

Subset runs: the QSL of a run may be a subset of the feature rows (`TestSpec.sample_rows`, QSL
index → feature row). We score exactly the examples whose features are *all* among the QSL rows;
an example cut by the subset boundary would otherwise be judged on part of its document (the
reference would score it, and every example outside the subset, as a wrong answer). Pass all
features plus `sample_rows` for an exact count; already-selected features also work for a QSL that
is a contiguous range of rows (see `_covered_examples`). Every QSL sample must be in the log: a
missing sample means the test did not finish, which is an error, not a smaller score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bert_sweep.assets.squad import SquadExample
from bert_sweep.errors import HarnessError
from bert_sweep.evaluation.postprocess import predictions_from_logits
from bert_sweep.evaluation.squad_metrics import score_examples
from bert_sweep.features.squad_features import Features


def read_accuracy_samples(path: Path, seq_len: int = 384) -> tuple[np.ndarray, np.ndarray]:
    """All samples present in the log: (qsl_idx int64 [m], logits float32 [m, seq, 2]).

    Duplicated qsl_idx keep their last entry; the result is sorted by qsl_idx.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            entries = json.load(fh)
    except FileNotFoundError:
        raise HarnessError(f"{path}: accuracy log not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: cannot read accuracy log ({exc})") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(
            f"{path}: accuracy log is not valid JSON ({exc.msg} at line {exc.lineno}); "
            "did the loadgen test finish?"
        ) from None
    if not isinstance(entries, list):
        raise HarnessError(f"{path}: expected a JSON list of {{seq_id, qsl_idx, data}} entries")
    n_hex = seq_len * 2 * 4 * 2  # float32 [seq, 2], two hex digits per byte
    last: dict[int, str] = {}
    for k, entry in enumerate(entries):
        qsl_idx = entry.get("qsl_idx") if isinstance(entry, dict) else None
        data = entry.get("data") if isinstance(entry, dict) else None
        if not isinstance(qsl_idx, int) or isinstance(qsl_idx, bool) or qsl_idx < 0:
            raise HarnessError(f"{path}: entry {k}: expected a non-negative integer 'qsl_idx'")
        if not isinstance(data, str) or len(data) != n_hex:
            size = f"{len(data) // 2} bytes" if isinstance(data, str) else "no 'data' string"
            raise HarnessError(
                f"{path}: sample qsl_idx={qsl_idx} (entry {k}): expected {n_hex // 2} bytes of "
                f"hex data (float32 [{seq_len}, 2]), got {size}"
            )
        last[qsl_idx] = data
    idx = np.fromiter(sorted(last), dtype=np.int64, count=len(last))
    try:
        raw = bytes.fromhex("".join(last[int(i)] for i in idx))
    except ValueError:
        bad = next(int(i) for i in idx if not _is_hex(last[int(i)]))
        raise HarnessError(f"{path}: sample qsl_idx={bad}: 'data' is not a hex string") from None
    logits = np.frombuffer(raw, dtype="<f4").reshape(len(idx), seq_len, 2)
    return idx, logits


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def read_accuracy_log(
    path: Path, n_samples: int, seq_len: int = 384
) -> tuple[np.ndarray, np.ndarray]:
    """(start_logits, end_logits) float32 `[n_samples, seq_len]`, row = qsl_idx.

    Every qsl_idx in [0, n_samples) must be present and none beyond it.
    """
    idx, logits = read_accuracy_samples(path, seq_len)
    if len(idx) and idx[-1] >= n_samples:
        raise HarnessError(
            f"{path}: sample qsl_idx={int(idx[-1])} is out of range (expected < {n_samples})"
        )
    if len(idx) != n_samples:
        present = np.zeros(n_samples, bool)
        present[idx] = True
        absent = np.flatnonzero(~present)
        shown = ", ".join(str(int(i)) for i in absent[:5]) + (", ..." if len(absent) > 5 else "")
        raise HarnessError(
            f"{path}: {len(absent)} of {n_samples} samples missing (qsl_idx {shown}); "
            "expected every sample of the accuracy run"
        )
    return np.ascontiguousarray(logits[:, :, 0]), np.ascontiguousarray(logits[:, :, 1])


def _covered_examples(features: Features, rows: np.ndarray, n_examples: int) -> np.ndarray:
    """bool [n_examples]: every feature of the example is among `rows`.

    Counted against `features` (all features when the caller passes them with `sample_rows`).
    When the caller passes already-selected features, counting cannot see what was cut, so we
    also require the example's first window (starting at its first document sub-token) and its
    last window (ending at its last one) to be present: this catches a QSL that is a contiguous
    range of rows, which is how subset runs are built.
    """
    ex = features.example_index
    total = np.bincount(ex, minlength=n_examples)
    got = np.bincount(ex[rows], minlength=n_examples)  # rows are unique here
    n_doc = np.diff(features.tok_to_orig_offsets)[ex[rows]]
    first = np.zeros(n_examples, bool)
    last = np.zeros(n_examples, bool)
    first[ex[rows][features.span_start[rows] == 0]] = True
    last[ex[rows][features.span_start[rows] + features.span_length[rows] == n_doc]] = True
    return (got == total) & (total > 0) & first & last


@dataclass
class AccuracyResult:
    """Scores of one accuracy log; `n_examples` questions were scored from `n_samples` samples."""

    exact_match: float
    f1: float
    n_samples: int
    n_examples: int
    predictions: dict[str, str] = field(repr=False)
    n_examples_partial: int = 0  # examples with only some features in the QSL (not scored)

    def accuracy_line(self) -> str:
        """The line MLPerf's accuracy.txt starts with, as the official script prints it."""
        return json.dumps({"exact_match": self.exact_match, "f1": self.f1})


def score_accuracy_log(
    path: Path,
    examples: Sequence[SquadExample],
    features: Features,
    tokenizer,
    sample_rows: Sequence[int] | None = None,
    n_best_size: int = 20,
    max_answer_length: int = 30,
) -> AccuracyResult:
    """Post-process and score an accuracy log (see the module docstring for subset runs).

    `examples` are all examples; `features` all their features with `sample_rows` mapping
    qsl_idx → feature row, or (sample_rows=None) exactly the QSL's features in QSL order, e.g.
    `features.select(rows)` for a subset run.
    """
    seq_len = features.input_ids.shape[1]
    if sample_rows is None:
        rows = np.arange(len(features), dtype=np.int64)
    else:
        rows = np.asarray(sample_rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(features)):
            raise HarnessError(
                f"sample_rows: expected feature rows in [0, {len(features)}), "
                f"got {int(rows.min())}..{int(rows.max())}"
            )
        if len(np.unique(rows)) != len(rows):
            raise HarnessError("sample_rows: expected each feature row at most once")
    start, end = read_accuracy_log(path, len(rows), seq_len)

    covered = _covered_examples(features, rows, len(examples))
    in_qsl = np.zeros(len(features), bool)
    in_qsl[rows] = True
    got = np.bincount(features.example_index[in_qsl], minlength=len(examples))
    partial = int(((got > 0) & ~covered).sum())
    if not covered.any():
        raise HarnessError(
            f"{path}: no example has all its features among the {len(rows)} samples; "
            "expected a QSL holding every feature of at least one example"
        )
    keep = np.flatnonzero(covered[features.example_index[rows]])  # QSL indices to post-process
    predictions = predictions_from_logits(
        examples,
        features.select(rows[keep]),
        start[keep],
        end[keep],
        tokenizer,
        n_best_size,
        max_answer_length,
    )
    scored = [examples[i] for i in np.flatnonzero(covered)]
    score = score_examples(scored, predictions)
    return AccuracyResult(
        exact_match=score.exact_match,
        f1=score.f1,
        n_samples=len(rows),
        n_examples=len(scored),
        predictions=predictions,
        n_examples_partial=partial,
    )
