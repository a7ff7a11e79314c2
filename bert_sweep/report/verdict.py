"""Verdicts that never lie: two accuracy judgements, always both, and which one decides.

Why two: the fp32 reference of a model without an official figure (`model=file`, the embedded
model on real SQuAD) is the same model's own fp32 F1, so the ratio to it only says what
quantization or an engine lost, never whether the model is any good: an fp32 run scores 100% and a
broken model passes. So a run is judged

- against its own fp32 reference (the ratio): what the search constrains by (`feasible`);
- on SQuAD v1.1 dev, against the MLPerf target itself (F1 >= target x 90.874): what the printed
  verdict and `submission_ready` use. On a subset of the dev set this is only indicative.

An F1 below BROKEN_F1 on SQuAD dev or the synthetic dev set is a broken model (no question
answering model scores that low): never PASS, never feasible, whatever its reference says.
A run without a meaningful accuracy (profile.accuracy=false, a perf-only model, a backend that
does not run the model) is PERF-ONLY: not judged, not a failure, not feasible.
"""

from __future__ import annotations

from bert_sweep.report.record import (
    BROKEN,
    FAIL,
    NOT_JUDGED,
    PASS,
    PERF_ONLY,
    Accuracy,
    Judgement,
    Performance,
    Verdict,
)

MLPERF_REFERENCE_F1 = 90.874  # fp32 BERT-large on SQuAD v1.1 dev (MLPerf's bert-99 reference)
SQUAD_DEV_SAMPLES = 10833  # features of SQuAD v1.1 dev = loadgen samples
BROKEN_F1 = 10.0  # below this on SQuAD-style dev data, the model does not answer questions
BROKEN_F1_DATASETS = ("squad", "synthetic")
OWN, MLPERF = "own fp32", "MLPerf"


def _ratio_judgement(
    name: str, f1: float, reference: float | None, target: float, what: str
) -> Judgement:
    if not reference:
        return Judgement(name, FAIL, f"no {what} to compare F1 {f1:.3f} with", required=target)
    ratio = f1 / reference
    ok = ratio + 1e-12 >= target
    sign = ">=" if ok else "<"
    reason = (
        f"F1 {f1:.3f} is {100 * ratio:.2f}% of {what} {reference:.3f} ({sign} {100 * target:g}%)"
    )
    return Judgement(name, PASS if ok else FAIL, reason, reference, ratio, target)


def judge_own(accuracy: Accuracy, target: float) -> Judgement:
    """F1 against the fp32 reference over the same samples (what the numerics lost)."""
    what = "the model's own fp32 F1" if accuracy.reference_is_self else "the fp32 reference"
    return _ratio_judgement(OWN, accuracy.f1, accuracy.reference_f1, target, what)


def judge_mlperf(accuracy: Accuracy, target: float, dataset: str | None) -> Judgement:
    """F1 against the MLPerf target (SQuAD v1.1 dev only; indicative on a subset of it)."""
    if dataset != "squad":
        return Judgement(
            MLPERF,
            NOT_JUDGED,
            f"dataset={dataset}: the MLPerf target is defined on SQuAD v1.1 dev (dataset=squad)",
            required=target,
        )
    j = _ratio_judgement(MLPERF, accuracy.f1, MLPERF_REFERENCE_F1, target, "the MLPerf reference")
    n = accuracy.n_samples or 0
    if n < SQUAD_DEV_SAMPLES:
        j.indicative = True
        j.reason += f"; indicative only: {n:,} of {SQUAD_DEV_SAMPLES:,} samples"
    return j


def _performance_reasons(performance: Performance | None) -> tuple[str, list[str]]:
    if performance is None:
        return NOT_JUDGED, ["performance not measured in this profile"]
    validity = performance.validity or NOT_JUDGED
    if validity == "VALID":
        return validity, []
    why = "; ".join(performance.invalid_reasons) or "loadgen result INVALID"
    return validity, [f"performance {validity}: {why}"]


def not_judged_reason(accuracy: Accuracy | None) -> str | None:
    """Why accuracy is not judged (None: it is)."""
    if accuracy is None:
        return "accuracy not measured (profile.accuracy=false): a performance-only run"
    if not accuracy.meaningful or accuracy.f1 is None:
        why = accuracy.not_meaningful_reason or "perf-only model"
        return f"accuracy not judged ({why}): a performance-only run"
    return None


def decide(
    accuracy: Accuracy | None,
    performance: Performance | None,
    target: float,
    dataset: str | None,
) -> Verdict:
    """The run's verdict: see the module docstring for what decides what."""
    validity, perf_reasons = _performance_reasons(performance)
    skipped = not_judged_reason(accuracy)
    if skipped is not None:
        overall = PERF_ONLY if validity == "VALID" else FAIL
        return Verdict(
            verdict=overall,
            accuracy=NOT_JUDGED,
            accuracy_reason=skipped,
            performance=validity,
            reasons=perf_reasons,
        )
    own = judge_own(accuracy, target)
    mlperf = judge_mlperf(accuracy, target, dataset)
    broken = dataset in BROKEN_F1_DATASETS and accuracy.f1 < BROKEN_F1
    if broken:
        why = (
            f"F1 {accuracy.f1:.3f} < {BROKEN_F1:g} on {dataset} dev: no question-answering model "
            "scores this low; the model is broken"
        )
        for j in (own, mlperf):
            if j.verdict != NOT_JUDGED:
                j.verdict, j.reason = BROKEN, why
    deciding = mlperf if mlperf.verdict != NOT_JUDGED else own
    reasons = [] if deciding.verdict == PASS else [deciding.reason]
    if deciding is mlperf and own.verdict != PASS and own.reason not in reasons:
        reasons.append(f"{OWN}: {own.reason}")  # shown, but the MLPerf target decides
    reasons += perf_reasons
    overall = PASS if deciding.verdict == PASS and validity == "VALID" else FAIL
    return Verdict(
        verdict=overall,
        accuracy=deciding.verdict,
        accuracy_reason=deciding.reason,
        performance=validity,
        reasons=reasons,
        feasible=own.verdict == PASS and validity == "VALID" and not broken,
        decided_by=deciding.name,
        own=own,
        mlperf=mlperf,
        broken_model=broken,
    )


def submission_ready(verdict: Verdict, valid_for_submission: bool, packageable: bool) -> bool:
    """Closed division: the MLPerf target met on the whole SQuAD dev set, and a VALID run."""
    m = verdict.mlperf
    return bool(
        valid_for_submission
        and packageable
        and verdict.performance == "VALID"
        and m is not None
        and m.verdict == PASS
        and not m.indicative
    )
