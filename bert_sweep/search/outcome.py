"""What one job's results mean to the search: objective, constraints, and the attributes kept.

Objective: performance-run samples/s (maximized). Constraints follow Optuna's convention (a trial
is feasible when every value is <= 0):

- accuracy: `target - F1/reference` (<= 0 when accuracy >= target x reference F1); 1.0 when no
  accuracy was measured or it is not meaningful (perf-only model), so such a trial never wins;
- validity: 0.0 for a VALID loadgen result, 1.0 for INVALID (or missing).

The job's own verdict (report.verdict.decide) is the final word: a trial it does not call
feasible gets a positive validity constraint even if the two figures above would pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Constraint value recorded for "cannot be judged" (no accuracy, INVALID run).
INFEASIBLE = 1.0


@dataclass
class Outcome:
    """A job's result reduced to what the study stores (small, JSON-friendly user attributes)."""

    ok: bool
    value: float | None = None
    constraints: list[float] = field(default_factory=lambda: [INFEASIBLE, INFEASIBLE])
    error: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.ok and self.value is not None and all(c <= 0 for c in self.constraints)


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def outcome_from_results(results: Any) -> Outcome:
    """Read a job's RunRecord (report/record.py), as returned by the job or read from its dir."""
    from bert_sweep.report.record import RecordError, RunRecord

    if isinstance(results, dict):
        try:
            results = RunRecord.from_dict(results, "job return value")
        except RecordError as exc:
            return Outcome(False, error=str(exc))
    if not isinstance(results, RunRecord):
        return Outcome(False, error=f"job returned {type(results).__name__}, not a RunRecord")
    r = results
    attrs: dict[str, Any] = {
        "run_dir": r.run_dir,
        "backend": r.backend,
        "precision": r.precision,
        "batch_size": r.batch_size,
        "verdict": r.verdict.verdict,
    }
    if not r.ok:
        attrs["error_kind"] = r.error_kind
        return Outcome(False, error=r.error or "job failed without a message", attrs=attrs)

    acc = r.accuracy
    target = _finite(r.target)
    value = r.samples_per_second
    judged = acc is not None and acc.meaningful
    ratio = _finite(acc.ratio) if judged else None
    validity = r.performance.validity if r.performance else None
    c_acc = (
        target - ratio if (ratio is not None and target is not None) else INFEASIBLE
    )  # <= 0 : accuracy within target
    c_valid = 0.0 if validity == "VALID" else INFEASIBLE
    if not r.verdict.feasible and c_acc <= 0 and c_valid <= 0:
        c_valid = INFEASIBLE  # the job's verdict rules (e.g. a broken model: F1 below any QA)
    mlperf = r.verdict.mlperf
    attrs |= {
        "samples_per_second": value,
        "validity": validity,
        "f1": _finite(acc.f1) if acc else None,
        "ratio": ratio,
        "reference_f1": _finite(acc.reference_f1) if acc else None,
        "mlperf_ratio": _finite(mlperf.ratio) if mlperf else None,
        "accuracy_reused": acc.reused if acc else None,
        "feasible": r.feasible,
        "reasons": list(r.verdict.reasons),
    }
    if value is None:
        error = "no performance samples/s in the results (profile without it?)"
        return Outcome(False, error=error, attrs=attrs)
    return Outcome(True, value, [float(c_acc), float(c_valid)], attrs=attrs)


def outcome_from_exception(exc: BaseException) -> Outcome:
    """A job that raised (the launcher caught it): failed, reason = the exception in one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return Outcome(False, error=f"{type(exc).__name__}: {text}", attrs={"error_kind": "crash"})
