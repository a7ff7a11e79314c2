"""The human summary printed at the end of a run, from its RunRecord (report/record.py).

Both accuracy judgements get their own line, with the one that decides the verdict marked, so a
ratio of 100% to a model's own fp32 F1 is never mistaken for a good model (report/verdict.py).
"""

from __future__ import annotations

from bert_sweep.report.record import NOT_JUDGED, PERF_ONLY, Judgement, RunRecord


def _fmt_ns(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:.2f} ms"


def _judgement_line(label: str, j: Judgement | None, decides: str) -> str:
    if j is None:
        return f"{label}: -"
    if j.verdict == NOT_JUDGED:
        return f"{label}: n/a ({j.reason})"
    return f"{label}: {j.verdict}  {j.reason}  [{decides}]"


def reused_label(acc) -> str:
    """Where a reused accuracy figure was measured (run dir, date)."""
    when = acc.measured_at or "date not recorded"
    return f"[reused: measured in {acc.measured_in or 'an earlier run'} at {when}]"


def _not_ready(r: RunRecord) -> str:
    """Why this run cannot be packaged as it is."""
    profile = (r.config or {}).get("profile") or {}
    if not profile.get("valid_for_submission"):
        return f"profile '{r.profile}' results cannot be packaged"
    return (
        "not submission-ready: the closed division needs the MLPerf target met on the whole "
        "SQuAD v1.1 dev set, a VALID run and a packageable model"
    )


def format_summary(record: RunRecord) -> str:
    """The human summary printed at the end of a run."""
    r = record
    lines = [
        "",
        "=" * 72,
        f"bert_sweep  {r.model} on {r.dataset} | backend={r.backend} "
        f"precision={r.precision} device={r.device}\n"
        f"            {r.scenario} | profile={r.profile} | batch={r.batch_size}",
        "-" * 72,
    ]
    perf = r.performance
    if perf:
        result = perf.result if perf.result is not None else float("nan")
        lines.append(
            f"performance : {result:.2f} {perf.result_unit or perf.result_name or ''}   "
            f"{perf.validity}"
            + (f" ({'; '.join(perf.invalid_reasons)})" if perf.invalid_reasons else "")
        )
        lat = perf.latency_ns
        lines.append(
            "latency     : "
            + "  ".join(f"{k}={_fmt_ns(lat.get(k))}" for k in ("p50", "p90", "p99", "max"))
        )
        lines.append(
            f"samples     : {perf.samples_issued if perf.samples_issued is not None else '?'} in "
            f"{perf.duration_s or 0:.1f} s  (target_qps {perf.target_qps})"
        )
    else:
        lines.append("performance : not run")
    acc = r.accuracy
    v = r.verdict
    if acc is None:
        lines.append("accuracy    : not run (profile.accuracy=false)")
    elif acc.f1 is None:
        lines.append(f"accuracy    : not meaningful ({acc.not_meaningful_reason or 'perf-only'})")
    else:
        lines.append(
            f"accuracy    : EM {acc.exact_match:.3f}  F1 {acc.f1:.3f}  over "
            f"{acc.n_samples} samples ({acc.n_examples} questions)"
            + (f"  {reused_label(acc)}" if acc.reused else "")
        )
        if not acc.meaningful:
            lines.append(f"              not judged: {acc.not_meaningful_reason}")
        elif acc.reference_f1:
            lines.append(
                f"reference   : fp32 F1 {acc.reference_f1:.3f} ({acc.reference_source})  ratio "
                f"{100 * acc.ratio:.2f}%  target {100 * (r.target or 0):g}%"
            )
    if v.own is not None or v.mlperf is not None:
        for label, j in (("vs own fp32 ", v.own), ("vs MLPerf   ", v.mlperf)):
            roles = ["decides feasible (search)"] if j is v.own else []
            if j is not None and j.name == v.decided_by:
                roles.insert(0, "decides the verdict")
            lines.append(_judgement_line(label, j, ", ".join(roles) or "shown only"))
    lines.append("-" * 72)
    if v.verdict == PERF_ONLY:
        lines.append(
            f"verdict     : {v.verdict}  (performance {v.performance}; accuracy not judged)"
        )
        lines.append(f"              - {v.accuracy_reason}")
    else:
        lines.append(
            f"verdict     : {v.verdict}  (accuracy {v.accuracy}, performance {v.performance})"
        )
    if v.broken_model:
        lines.append("              BROKEN MODEL: never PASS, never feasible")
    for reason in v.reasons:
        lines.append(f"              - {reason}")
    if not r.submission_ready:
        lines.append(f"              note: {_not_ready(r)}")
    lines.append(f"run dir     : {r.run_dir}")
    lines.append("=" * 72)
    return "\n".join(lines)
