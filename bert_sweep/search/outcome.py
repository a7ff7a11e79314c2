"""What one job's results mean to the search: objective, constraints, and the attributes kept.

Objective: performance-run samples/s (maximized). Constraints follow Optuna's convention (a trial
is feasible when every value is <= 0):

- accuracy: `target - F1/reference` (<= 0 when accuracy >= target x reference F1); 1.0 when no
  accuracy was measured or it is not meaningful (perf-only model), so such a trial never wins;
- validity: 0.0 for a VALID loadgen result, 1.0 for INVALID (or missing).

The job's own verdict (report.results.decide) is the final word: a trial it does not call
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
    """Read a results dict (report/results.py schema) as returned by the job."""
    if not isinstance(results, dict):
        return Outcome(False, error=f"job returned {type(results).__name__}, not a results dict")
    verdict = results.get("verdict") or {}
    attrs: dict[str, Any] = {
        "run_dir": results.get("run_dir"),
        "backend": results.get("backend"),
        "precision": results.get("precision"),
        "batch_size": results.get("batch_size"),
        "verdict": verdict.get("verdict"),
    }
    if results.get("status") != "ok":
        error = str(results.get("error") or "job failed without a message")
        attrs["error_kind"] = results.get("error_kind")
        return Outcome(False, error=error, attrs=attrs)

    perf = results.get("performance") or {}
    acc = results.get("accuracy") or {}
    target = _finite(results.get("target"))
    value = _finite(perf.get("samples_per_second"))
    ratio = _finite(acc.get("ratio")) if acc.get("meaningful", True) else None
    validity = perf.get("validity")
    c_acc = (
        target - ratio if (ratio is not None and target is not None) else INFEASIBLE
    )  # <= 0 : accuracy within target
    c_valid = 0.0 if validity == "VALID" else INFEASIBLE
    if not verdict.get("feasible", False) and c_acc <= 0 and c_valid <= 0:
        c_valid = INFEASIBLE  # the job's verdict rules (e.g. a reason the figures do not show)
    attrs |= {
        "samples_per_second": value,
        "validity": validity,
        "f1": _finite(acc.get("f1")),
        "ratio": ratio,
        "reference_f1": _finite(acc.get("reference_f1")),
        "accuracy_reused": acc.get("reused"),
        "feasible": bool(verdict.get("feasible", False)),
        "reasons": list(verdict.get("reasons") or []),
    }
    if value is None:
        error = "no performance samples/s in the results (profile without it?)"
        return Outcome(False, error=error, attrs=attrs)
    return Outcome(True, value, [float(c_acc), float(c_valid)], attrs=attrs)


def outcome_from_exception(exc: BaseException) -> Outcome:
    """A job that raised (the launcher caught it): failed, reason = the exception in one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return Outcome(False, error=f"{type(exc).__name__}: {text}", attrs={"error_kind": "crash"})
