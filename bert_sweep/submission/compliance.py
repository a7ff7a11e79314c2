"""TEST01 (closed division): accuracy in performance mode, and its verification.

The official TEST01 runs a performance test with `compliance/TEST01/bert/audit.config` in the
working directory: loadgen then logs the responses of about 4,096 sampled samples. Verification:
- accuracy: each sampled response must equal the accuracy run's response for the same sample
  (the official verify_accuracy.py compares them); when they differ (non-deterministic kernels,
  a different padded length under trim_padding), the F1 of the sampled subset from both logs must
  agree within 1% (0.1% for bert-99.9): baseline_accuracy.txt / compliance_accuracy.txt;
- performance: the TEST01 run must be VALID and within 10% of the submission's result
  (verify_performance.py).

Running the TEST01 test needs the harness to place an audit.config in a loadgen test folder
(`TestSpec.audit_config`); without it this module refuses with that reason.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bert_sweep.config.schema import RunConfig
from bert_sweep.submission.errors import SubmissionRefused
from bert_sweep.submission.tree import Test01Files

# compliance/TEST01/bert/audit.config in mlcommons/inference (settings, not code).
TEST01_AUDIT_CONFIG = (
    "*.*.mode = 2\n"
    "*.*.accuracy_log_rng_seed = 720381539243781796\n"
    "*.*.accuracy_log_sampling_target = 4096\n"
)
PERFORMANCE_TOLERANCE = 0.10  # verify_performance.py threshold (Offline, Server)


def _entries(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, list):
        raise SubmissionRefused(f"{path}: expected a list of accuracy log entries")
    return data


def compare_logs(reference: Path, test: Path) -> tuple[bool, str]:
    """Compare TEST01's sampled responses with the accuracy run's; (passed, report text)."""
    ref: dict[int, str] = {}
    for entry in _entries(reference):
        ref[entry["qsl_idx"]] = entry["data"]
    sampled = _entries(test)
    matched = [e for e in sampled if e["qsl_idx"] in ref]
    mismatched = [e for e in matched if ref[e["qsl_idx"]] != e["data"]]
    missing = len(sampled) - len(matched)
    passed = bool(matched) and not mismatched and not missing
    text = (
        f"num_acc_log_entries = {len(ref)}\n"
        f"num_perf_log_entries = {len(sampled)}\n"
        f"num_perf_log_qsl_idx_match = {len(matched)}\n"
        f"num_perf_log_data_mismatch = {len(mismatched)}\n"
        f"num_missing_qsl_idxs = {missing}\n"
        f"{'TEST PASS' if passed else 'TEST FAIL'}\n"
    )
    return passed, text


def verify_performance(reference_detail: Path, test_detail: Path) -> tuple[bool, str]:
    """The TEST01 run is VALID and within 10% of the submission's result."""
    from bert_sweep.harness.mllog import parse_detail_log

    ref, test = parse_detail_log(reference_detail), parse_detail_log(test_detail)
    lines = [f"Reference score = {ref.result}", f"Test score = {test.result}"]
    if test.validity != "VALID":
        return False, "\n".join([*lines, f"TEST FAIL: test run is {test.validity}"]) + "\n"
    if ref.scenario != test.scenario or ref.result is None or test.result is None:
        return False, "\n".join([*lines, "TEST FAIL: scenarios or results do not match"]) + "\n"
    low, high = ref.result * (1 - PERFORMANCE_TOLERANCE), ref.result * (1 + PERFORMANCE_TOLERANCE)
    passed = low <= test.result <= high
    verdict = "TEST PASS" if passed else "TEST FAIL: Test score invalid"
    return passed, "\n".join([*lines, verdict]) + "\n"


def _subset_f1(log: Path, rows: list[int], pipeline) -> tuple[float, float]:
    """EM and F1 of the examples fully covered by `rows` (QSL indices of a whole-dataset run)."""
    from bert_sweep.assets.vocab import load_tokenizer
    from bert_sweep.evaluation.accuracy_log import score_accuracy_log

    scored = score_accuracy_log(
        log,
        pipeline.examples,
        pipeline.features,
        load_tokenizer(pipeline.vocab_path),
        sample_rows=rows,
    )
    return scored.exact_match, scored.f1


def _subset_log(source: Path, rows: list[int], dest: Path) -> Path:
    """The entries of `rows`, renumbered to their position in `rows` (the subset's QSL index)."""
    position = {row: i for i, row in enumerate(rows)}
    entries = [
        e | {"qsl_idx": position[e["qsl_idx"]]}
        for e in _entries(source)
        if e["qsl_idx"] in position
    ]
    dest.write_text(json.dumps(entries), encoding="utf-8")
    return dest


def run_test01(
    cfg: RunConfig, run_dir: Path, accuracy_log: Path, reference_detail: Path
) -> Test01Files:
    """Run the TEST01 performance test (cfg: the performance stage's config, target_qps set)
    and verify it against the submission's accuracy log and performance run."""
    from bert_sweep.harness.runner import run_test
    from bert_sweep.harness.spec import TestSpec
    from bert_sweep.pipeline import Pipeline

    if "audit_config" not in {f.name for f in dataclasses.fields(TestSpec)}:
        raise SubmissionRefused(
            "division=closed: the TEST01 compliance run needs harness support for a loadgen "
            "audit.config (TestSpec.audit_config), which this bert_sweep lacks"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(cfg, run_dir)
    pipeline._assets()
    pipeline._features()
    pipeline._backend()
    spec = pipeline._spec(
        "performance",
        "TEST01",
        cfg.backend,
        pipeline.prepared_path,
        audit_config=TEST01_AUDIT_CONFIG,
    )
    outcome = run_test(spec)
    test_dir = Path(outcome.output_dir)
    perf_ok, perf_text = verify_performance(reference_detail, test_dir / "mlperf_log_detail.txt")
    acc_ok, acc_text = compare_logs(accuracy_log, test_dir / "mlperf_log_accuracy.json")
    extra: dict[str, str] = {}
    if not acc_ok:
        rows = sorted({e["qsl_idx"] for e in _entries(test_dir / "mlperf_log_accuracy.json")})
        baseline = _subset_log(accuracy_log, rows, run_dir / "baseline_log.json")
        sampled = _subset_log(
            test_dir / "mlperf_log_accuracy.json", rows, run_dir / "test01_log.json"
        )
        em_b, f1_b = _subset_f1(baseline, rows, pipeline)
        em_c, f1_c = _subset_f1(sampled, rows, pipeline)
        extra = {
            "baseline_accuracy.txt": f'{{"exact_match": {em_b:.6f}, "f1": {f1_b:.6f}}}\n',
            "compliance_accuracy.txt": f'{{"exact_match": {em_c:.6f}, "f1": {f1_c:.6f}}}\n',
            "accuracy.txt": f'{{"exact_match": {em_c:.6f}, "f1": {f1_c:.6f}}}\n',
        }
    if not perf_ok:
        raise SubmissionRefused(
            f"{test_dir}: TEST01 performance check failed ({perf_text.strip()})"
        )
    return Test01Files(test_dir, acc_text, perf_text, extra)
