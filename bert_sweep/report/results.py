"""results.json (the one record of a run that tracking, search and submission read) and verdicts."""

from __future__ import annotations

import json
import math
from pathlib import Path

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1


def read_results(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / RESULTS_FILE).read_text())


def accuracy_verdict(accuracy: dict | None, target: float) -> tuple[str, str]:
    """PASS/FAIL/N/A for the accuracy target, with the reason."""
    if not accuracy:
        return "N/A", "accuracy not measured in this profile"
    if not accuracy.get("meaningful", True):
        why = accuracy.get("reference_source") or "perf-only model"
        return "N/A", f"accuracy not judged ({why})"
    ratio = accuracy.get("ratio")
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return "FAIL", "no fp32 reference F1 to compare with"
    need = 100.0 * target
    if ratio + 1e-12 >= target:
        return "PASS", f"F1 {accuracy['f1']:.3f} is {100 * ratio:.2f}% of reference (>= {need:g}%)"
    return "FAIL", f"F1 {accuracy['f1']:.3f} is {100 * ratio:.2f}% of reference (< {need:g}%)"


def decide(accuracy: dict | None, performance: dict | None, target: float) -> dict:
    """Overall verdict: PASS needs the accuracy target met and a VALID performance run."""
    acc_verdict, acc_reason = accuracy_verdict(accuracy, target)
    validity = performance.get("validity") if performance else None
    reasons = []
    if acc_verdict != "PASS":
        reasons.append(acc_reason)
    if performance is None:
        reasons.append("performance not measured in this profile")
    elif validity != "VALID":
        why = "; ".join(performance.get("invalid_reasons") or []) or "loadgen result INVALID"
        reasons.append(f"performance INVALID: {why}")
    overall = "PASS" if acc_verdict == "PASS" and validity == "VALID" else "FAIL"
    return {
        "verdict": overall,
        "accuracy": acc_verdict,
        "accuracy_reason": acc_reason,
        "performance": validity or "N/A",
        "reasons": reasons,
        # Search treats a run as feasible only when both hold (issue: constraint F1 >= target).
        "feasible": overall == "PASS",
    }


def _fmt_ns(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:.2f} ms"


def format_summary(results: dict) -> str:
    """The human summary printed at the end of a run."""
    r = results
    lines = [
        "",
        "=" * 72,
        f"bert_sweep  {r['model']} on {r['dataset']} | backend={r['backend']} "
        f"precision={r['precision']} device={r['device']}\n"
        f"            {r['scenario']} | profile={r['profile']} | batch={r.get('batch_size')}",
        "-" * 72,
    ]
    perf = r.get("performance")
    if perf:
        lines.append(
            f"performance : {perf.get('result') or float('nan'):.2f} "
            f"{perf.get('result_unit') or perf.get('result_name') or ''}   {perf.get('validity')}"
            + (f" ({'; '.join(perf['invalid_reasons'])})" if perf.get("invalid_reasons") else "")
        )
        lat = perf.get("latency_ns") or {}
        lines.append(
            "latency     : "
            + "  ".join(f"{k}={_fmt_ns(lat.get(k))}" for k in ("p50", "p90", "p99", "max"))
        )
        lines.append(
            f"samples     : {perf.get('samples_issued', '?')} in {perf.get('duration_s', 0):.1f} s"
            f"  (target_qps {perf.get('target_qps')})"
        )
    else:
        lines.append("performance : not run")
    acc = r.get("accuracy")
    if acc and acc.get("meaningful", True):
        ref = acc.get("reference_f1")
        lines.append(
            f"accuracy    : EM {acc['exact_match']:.3f}  F1 {acc['f1']:.3f}  over "
            f"{acc['n_samples']} samples ({acc['n_examples']} questions)"
            + ("  [reused]" if acc.get("reused") else "")
        )
        if ref:
            lines.append(
                f"reference   : fp32 F1 {ref:.3f} ({acc.get('reference_source')})  ratio "
                f"{100 * acc['ratio']:.2f}%  target {100 * r['target']:g}%"
            )
    elif acc and "f1" in acc:
        lines.append(
            f"accuracy    : EM {acc['exact_match']:.3f}  F1 {acc['f1']:.3f}  (not judged: "
            f"{acc.get('reference_source')})"
        )
    elif acc:
        lines.append("accuracy    : not meaningful (perf-only model)")
    else:
        lines.append("accuracy    : not run")
    v = r["verdict"]
    lines.append("-" * 72)
    lines.append(
        f"verdict     : {v['verdict']}  (accuracy {v['accuracy']}, performance {v['performance']})"
    )
    for reason in v["reasons"]:
        lines.append(f"              - {reason}")
    if not r.get("submission_ready"):
        lines.append(f"              note: profile '{r['profile']}' results cannot be packaged")
    lines.append(f"run dir     : {r['run_dir']}")
    lines.append("=" * 72)
    return "\n".join(lines)
