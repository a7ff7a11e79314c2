"""`<name>_summary.csv` / `.json`: one row per result, in the checker's final-report columns.

The official checker writes these rows (results.py ResultExporter) and generate_final_report.py
turns them into the published results table; the SCC'23 flow shipped them beside the tarball.
The columns follow the chosen checker version; `Result` is the checker's headline figure and
`Accuracy` its `F1: <value>` text.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from bert_sweep.atomic import write_text_atomic
from bert_sweep.submission.validate import Report, ResultRecord
from bert_sweep.submission.versions import UNITS, CheckerVersion


def summary_rows(
    report: Report,
    version: CheckerVersion,
    systems: dict[str, dict[str, Any]],
    measurements: dict[str, Any],
) -> list[dict[str, Any]]:
    """Rows for every result of the report; `systems` maps system id -> its systems JSON."""
    rows = []
    for record in report.results:
        desc = systems.get(record.system, {})
        rows.append(_row(record, version, desc, measurements))
    return rows


def _int_or_zero(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _row(
    record: ResultRecord, version: CheckerVersion, desc: dict[str, Any], meas: dict[str, Any]
) -> dict[str, Any]:
    notes = desc.get("hw_notes", "")
    if desc.get("sw_notes"):
        notes = (notes + ". " if notes else "") + desc["sw_notes"]
    values = {
        "Organization": record.submitter,
        "Availability": desc.get("status", ""),
        "Division": record.division,
        "SystemType": desc.get("system_type", ""),
        "SystemName": desc.get("system_name", ""),
        "Platform": record.system,
        "Model": record.benchmark,
        "MlperfModel": record.benchmark,
        "Scenario": record.scenario,
        "Result": record.result,
        "Accuracy": f"F1: {record.f1}" if record.f1 is not None else "",
        "number_of_nodes": desc.get("number_of_nodes", ""),
        "host_processor_model_name": desc.get("host_processor_model_name", ""),
        "host_processors_per_node": desc.get("host_processors_per_node", ""),
        "host_processor_core_count": desc.get("host_processor_core_count", ""),
        "accelerator_model_name": desc.get("accelerator_model_name", ""),
        "accelerators_per_node": desc.get("accelerators_per_node", ""),
        "total_accelerators": _int_or_zero(desc.get("number_of_nodes"))
        * _int_or_zero(desc.get("accelerators_per_node")),
        "Location": f"{record.location}/performance/run_1",
        "framework": desc.get("framework", ""),
        "operating_system": desc.get("operating_system", ""),
        "notes": notes,
        "compliance": 1 if record.compliance else 0,
        "errors": record.violations,
        "version": version.name,
        "inferred": 0,
        "has_power": False,
        "Units": UNITS.get(record.scenario, ""),
        "weight_data_types": meas.get("weight_data_types", ""),
        "design_power_watts": "",
        "PrivateID": "",
    }
    return {column: values.get(column, "") for column in version.csv_columns}


def _write_atomic(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def write_summary(
    rows: list[dict[str, Any]], columns: tuple[str, ...], out_dir: Path, name: str
) -> tuple[Path, Path]:
    """Write `<name>_summary.csv` and `<name>_summary.json`; returns both paths."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    writer.writerows(rows)
    csv_path = Path(out_dir) / f"{name}_summary.csv"
    json_path = Path(out_dir) / f"{name}_summary.json"
    _write_atomic(csv_path, buffer.getvalue())
    _write_atomic(json_path, json.dumps(rows, indent=2) + "\n")
    return csv_path, json_path
