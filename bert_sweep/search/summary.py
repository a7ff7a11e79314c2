"""The end-of-sweep table (grid jobs or search trials): printed, and written as md/csv/json.

One row per job: what varied, status, samples/s, F1, ratio to the reference, whether accuracy
was reused, the verdict, and the failure reason. The same renderer serves Hydra's grid sweeps
(search.grid) and the Optuna sweeper, so both sweeps end the same way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bert_sweep.atomic import write_json_atomic, write_text_atomic
from bert_sweep.report.record import RESULTS_FILE, RunRecord

COLUMNS = (
    ("id", "job"),
    ("params", "overrides"),
    ("status", "status"),
    ("samples_per_second", "samples/s"),
    ("validity", "loadgen"),
    ("f1", "F1"),
    ("ratio", "ratio"),
    ("accuracy_reused", "acc reused"),
    ("verdict", "verdict"),
    ("note", "note"),
)
NOTE_WIDTH = 150


def row_from_results(job_id: str, params: str, results: RunRecord | str | None) -> dict:
    """A table row from a job's RunRecord (None: no results.json; a string: why it is
    unreadable)."""
    if results is None:
        return {"id": job_id, "params": params, "status": "missing", "note": f"no {RESULTS_FILE}"}
    if isinstance(results, str):
        return {"id": job_id, "params": params, "status": "unreadable", "note": results}
    perf, acc, verdict = results.performance, results.accuracy, results.verdict
    judged = acc is not None and acc.meaningful
    return {
        "id": job_id,
        "params": params,
        "status": results.status,
        "samples_per_second": perf.samples_per_second if perf else None,
        "validity": perf.validity if perf else None,
        "f1": acc.f1 if judged else None,
        "ratio": acc.ratio if judged else None,
        "accuracy_reused": acc.reused if acc else None,
        "verdict": verdict.verdict,
        "note": results.error or "; ".join(verdict.reasons),
    }


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if key == "ratio":
            return f"{100 * value:.2f}%"
        return f"{value:.2f}"
    text = " ".join(str(value).split())
    if key == "note" and len(text) > NOTE_WIDTH:
        text = text[: NOTE_WIDTH - 1] + "…"
    return text.replace("|", "/")


def render_table(rows: Sequence[Mapping[str, Any]], title: str = "") -> str:
    """A Markdown pipe table, padded so it also reads well in a terminal."""
    cells = [[h for _, h in COLUMNS]] + [[_cell(k, r.get(k)) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [f"## {title}", ""] if title else []
    out.append(line(cells[0]))
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += [line(row) for row in cells[1:]]
    return "\n".join(out) + "\n"


def _footer_line(key: str, value: Any) -> str:
    if isinstance(value, Mapping):
        return f"\n{key}:" + "".join(f"\n  {k}: {v}" for k, v in value.items())
    return f"\n{key}: {'-' if value is None else value}"


def write_summary(
    folder: Path, rows: Sequence[Mapping[str, Any]], title: str, extra: Mapping | None = None
) -> str:
    """Write summary.md / summary.csv / summary.json into `folder`; returns the table text."""
    table = render_table(rows, title)
    folder = Path(folder)
    footer = "".join(_footer_line(k, v) for k, v in (extra or {}).items())
    write_text_atomic(folder / "summary.md", table + footer + ("\n" if footer else ""))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[k for k, _ in COLUMNS], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k, _ in COLUMNS})
    write_text_atomic(folder / "summary.csv", buf.getvalue())
    write_json_atomic(folder / "summary.json", {"title": title, **(extra or {}), "rows": rows})
    return table + footer
