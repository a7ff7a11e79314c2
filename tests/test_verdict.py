"""Accuracy verdicts that never lie: both judgements, which decides, broken models, perf-only runs,
and labels that say where a reused figure came from."""

from __future__ import annotations

import pytest

from bert_sweep.evaluation.reuse import FP32_REFERENCE, AccuracyStore
from bert_sweep.report.record import Accuracy, Performance, RunRecord
from bert_sweep.report.results import format_summary
from bert_sweep.report.verdict import MLPERF_REFERENCE_F1, decide, submission_ready
from tests.conftest import SHARED_DATA, requires_shared_data

VALID = Performance(samples_per_second=100.0, validity="VALID")


def _self_judged(f1: float, n: int = 256) -> Accuracy:
    """A model whose only reference is its own fp32 F1 (model=file, embedded on SQuAD)."""
    return Accuracy(
        exact_match=f1,
        f1=f1,
        n_samples=n,
        n_examples=n,
        reference_f1=f1,
        reference_source="its own fp32 onnxruntime F1: this run",
        reference_is_self=True,
        ratio=1.0,
    )


def _record(acc: Accuracy | None, dataset: str, perf: Performance | None = VALID) -> RunRecord:
    return RunRecord(
        status="ok",
        run_dir="outputs/runs/x",
        verdict=decide(acc, perf, 0.99, dataset),
        model="file",
        dataset=dataset,
        profile="quick",
        target=0.99,
        accuracy=acc,
        performance=perf,
    )


@pytest.mark.parametrize("dataset", ["squad", "synthetic"])
def test_a_broken_model_judged_against_itself_never_passes(dataset):
    v = decide(_self_judged(4.3), VALID, 0.99, dataset)
    assert v.broken_model and v.verdict == "FAIL" and not v.feasible
    assert v.own.verdict == "BROKEN" and v.own.ratio == pytest.approx(1.0)
    assert any("model is broken" in r for r in v.reasons)


def test_mlperf_target_decides_on_squad_and_is_indicative_on_a_subset():
    v = decide(_self_judged(40.0, n=128), VALID, 0.99, "squad")
    assert v.own.verdict == "PASS" and v.feasible  # nothing lost to numerics: search may use it
    assert v.mlperf.verdict == "FAIL" and v.mlperf.indicative
    assert v.mlperf.ratio == pytest.approx(40.0 / MLPERF_REFERENCE_F1)
    assert v.verdict == "FAIL" and v.decided_by == v.mlperf.name
    assert "indicative only: 128 of 10,833 samples" in v.mlperf.reason


def test_full_squad_meeting_the_mlperf_target_is_submission_ready():
    v = decide(_self_judged(90.5, n=10833), VALID, 0.99, "squad")
    assert v.verdict == "PASS" and not v.mlperf.indicative
    assert submission_ready(v, valid_for_submission=True, packageable=True)
    assert not submission_ready(v, valid_for_submission=False, packageable=True)
    subset = decide(_self_judged(90.5, n=1000), VALID, 0.99, "squad")
    assert subset.verdict == "PASS" and not submission_ready(subset, True, True)


def test_synthetic_data_is_judged_by_the_own_fp32_ratio_only():
    acc = _self_judged(80.0)
    acc.f1, acc.ratio = 78.0, 78.0 / 80.0  # int8 lost 2.5%
    v = decide(acc, VALID, 0.99, "synthetic")
    assert v.mlperf.verdict == "N/A" and v.decided_by == v.own.name
    assert v.verdict == "FAIL" and not v.feasible and v.accuracy == "FAIL"


@pytest.mark.parametrize("acc", [None, Accuracy(meaningful=False, not_meaningful_reason="x")])
def test_a_performance_only_run_is_not_judged_and_not_a_failure(acc):
    r = _record(acc, "synthetic")
    assert r.verdict.verdict == "PERF-ONLY" and r.exit_ok and not r.passed
    assert not r.feasible  # the search never picks an unjudged run
    text = format_summary(r)
    assert "verdict     : PERF-ONLY" in text and "FAIL" not in text
    invalid = _record(acc, "synthetic", Performance(validity="INVALID", invalid_reasons=["slow"]))
    assert invalid.verdict.verdict == "FAIL" and not invalid.exit_ok


def test_summary_prints_both_judgements_on_their_own_lines():
    r = _record(_self_judged(40.0, n=128), "squad")
    lines = format_summary(r).splitlines()
    own = [line for line in lines if line.startswith("vs own fp32 :")]
    mlperf = [line for line in lines if line.startswith("vs MLPerf   :")]
    assert len(own) == len(mlperf) == 1
    assert own[0].startswith("vs own fp32 : PASS") and "decides feasible" in own[0]
    assert "decides the verdict" not in own[0]
    assert mlperf[0].startswith("vs MLPerf   : FAIL") and "decides the verdict" in mlperf[0]
    assert any(x.startswith("verdict     : FAIL") for x in lines)


def test_reused_accuracy_and_reference_are_labelled_with_their_origin(compose, tmp_path):
    """Pipeline._reference on the real accuracy store: a reused fp32 figure (its own reference)
    and a cached reference both name the run dir and date they were measured in."""
    from bert_sweep.pipeline import Pipeline

    _, cfg = compose(["model=file", "model.file=/m.onnx", "tracking=none"])
    pipe = Pipeline(cfg, tmp_path / "now")
    pipe.rows = list(range(64))  # a subset: no official figure applies
    store = AccuracyStore(tmp_path / "cache")

    reused = _self_judged(70.0)
    reused.reused, reused.measured_in, reused.measured_at = True, "/runs/a", "2025-01-02T03:04:05"
    ref, label, is_self = pipe._reference(store, "k", FP32_REFERENCE, reused)
    assert ref == 70.0 and is_self
    assert "this run" not in label and "/runs/a" in label and "2025-01-02T03:04:05" in label
    r = _record(reused, "squad")
    assert "[reused: measured in /runs/a at 2025-01-02T03:04:05]" in format_summary(r)

    store.put("ref", {"f1": 71.0, "run_dir": "/runs/b", "n_samples": 64})
    entry = store.get("ref")
    assert entry["measured_at"]  # stamped when stored
    ref, label, is_self = pipe._reference(
        store, "ref", {"backend": "onnx", "precision": "int8"}, reused
    )
    assert ref == 71.0 and is_self and "/runs/b" in label and entry["measured_at"] in label


@requires_shared_data()
def test_a_run_without_accuracy_ends_perf_only_not_fail(run_cli, tmp_path):
    """profile.accuracy=false through the CLI: PERF-ONLY, exit 0, never `FAIL (accuracy N/A)`.
    The query is sized from the warm-up's measured rate with a 4x margin, so it outlasts the
    minimum duration (VALID) on any machine."""
    model = tmp_path / "unused.onnx"
    model.write_bytes(b"the noop backend never reads its model file")
    run_dir = tmp_path / "run"
    proc = run_cli(
        "backend=noop",
        "tracking=none",
        "model=file",
        f"model.file={model}",
        "dataset=squad",
        f"assets.mirror={SHARED_DATA}",
        "profile.accuracy=false",
        "profile.max_samples=64",
        "scenario.qps_factor=4",
        run_dir=run_dir,
    )
    r = RunRecord.read(run_dir)
    assert r.accuracy is None and r.performance.validity == "VALID", proc.stdout[-2000:]
    assert r.verdict.verdict == "PERF-ONLY" and r.exit_ok and not r.feasible
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "verdict     : PERF-ONLY" in proc.stdout and "FAIL" not in proc.stdout
