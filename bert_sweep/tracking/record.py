"""A RunRecord → MLflow metrics and tags; a config → params. Pure functions: no MLflow, no I/O.

Names are chosen for the MLflow UI's compare views: metrics are flat numbers (`samples_per_second`,
`latency_p99_ms`, `f1`, `valid` 1/0, `time_<phase>_s`), params are the flattened resolved config
(`batch`, `backend.batch_size`, …), tags are the labels one filters and groups by (`backend`,
`verdict`, `system.cpu`, `pkg.onnxruntime`, …).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from bert_sweep.report.record import ERROR, RecordError, RunRecord, Verdict

# MLflow's limits (mlflow.utils.validation): longer values are rejected, so they are shortened.
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250

FINISHED, FAILED, KILLED, RUNNING = "FINISHED", "FAILED", "KILLED", "RUNNING"
# The tags tracking itself uses to find runs again (a parent by its sweep, a job by its folder).
TAG_ROLE = "bert_sweep.role"  # "sweep" (parent) | "job"
TAG_SWEEP_KEY = "bert_sweep.sweep_key"  # digest of the absolute sweep folder
TAG_SWEEP_DIR = "bert_sweep.sweep_dir"
TAG_JOB_DIR = "bert_sweep.job_dir"
TAG_JOB_NUM = "bert_sweep.job_num"
TAG_HOST = "bert_sweep.host"
TAG_PID = "bert_sweep.pid"
TAG_ERROR = "error"
TAG_NOTE = "mlflow.note.content"  # shown as the run's description in the UI
TAG_PARENT = "mlflow.parentRunId"  # MLflow's own nesting tag


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, default=str, sort_keys=True)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping → {"a.b.c": text}. Lists stay whole (as JSON): one param per knob."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, prefix=f"{name}."))
        else:
            out[clip(name, MAX_KEY)] = clip(_scalar_text(value), MAX_PARAM_VALUE)
    return out


def _finite(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def as_record(results: RunRecord | Mapping[str, Any] | None) -> RunRecord | None:
    """The RunRecord behind what the callback holds: a record, its dict form (possibly with the
    callback's own failure fields merged in), or a bare failure {status, error, error_kind} for a
    job that left no readable record."""
    if results is None or isinstance(results, RunRecord):
        return results
    if "schema" in results:
        try:
            return RunRecord.from_dict(dict(results), "job record")
        except RecordError as exc:
            error, kind = str(exc), "RecordError"
    else:
        error = results.get("error") or "no reason recorded"
        kind = results.get("error_kind")
    return RunRecord(
        status="failed",
        run_dir=str(results.get("run_dir") or ""),
        verdict=Verdict(verdict=ERROR, reasons=[str(error)]),
        error=str(error),
        error_kind=kind,
    )


# MLflow metric name -> RunRecord.flat() key.
METRICS = {
    "samples_per_second": "performance.samples_per_second",
    "loadgen_result": "performance.result",
    "samples_issued": "performance.samples_issued",
    "duration_s": "performance.duration_s",
    "target_qps": "performance.target_qps",
    "exact_match": "accuracy.exact_match",
    "f1": "accuracy.f1",
    "accuracy_ratio": "accuracy.ratio",
    "reference_f1": "accuracy.reference_f1",
    "mlperf_ratio": "verdict.mlperf.ratio",
}


def metrics_from_results(results: RunRecord | Mapping[str, Any] | None) -> dict[str, float]:
    """The figures worth plotting; absent or non-finite figures are left out, never faked."""
    r = as_record(results)
    if r is None:
        return {}
    flat = r.flat()
    out: dict[str, float | None] = {name: _finite(flat.get(key)) for name, key in METRICS.items()}
    if r.performance is not None:
        out["valid"] = 1.0 if r.performance.validity == "VALID" else 0.0
        for name, ns in r.performance.latency_ns.items():
            value = _finite(ns)
            key = f"latency_{str(name).replace('.', '_')}_ms"
            out[key] = None if value is None else value / 1e6
    # The accuracy figures are logged as measured; the tags say whether and how they are judged.
    if r.ok:
        out["feasible"] = 1.0 if r.feasible else 0.0
    for phase, seconds in r.timings_s.items():
        out[f"time_{phase}_s"] = _finite(seconds)
    return {k: v for k, v in out.items() if v is not None}


def tags_from_results(results: RunRecord | Mapping[str, Any] | None) -> dict[str, str]:
    """Labels to filter and group by: what ran, where, with which software, and the outcome."""
    r = as_record(results)
    if r is None:
        return {}
    tags: dict[str, Any] = {
        name: getattr(r, name)
        for name in ("model", "dataset", "backend", "device", "scenario", "precision", "profile")
    }
    tags["status"] = r.status
    if r.backend:
        from bert_sweep.report.system_info import framework

        tags["framework"] = framework(r.backend, r.packages, r.backend_info)
    tags["verdict"] = r.verdict.verdict
    tags["submission_ready"] = r.submission_ready if r.ok else None
    if r.verdict.decided_by:
        tags["verdict_decided_by"] = r.verdict.decided_by
    if r.verdict.broken_model:
        tags["broken_model"] = True
    acc = r.accuracy
    if acc is not None:
        tags["accuracy_meaningful"] = acc.meaningful
        tags["accuracy_reused"] = acc.reused
        if acc.reused:  # its loadgen logs are in the run that measured it
            tags["accuracy_measured_in"] = acc.measured_in
            tags["accuracy_measured_at"] = acc.measured_at
    system = r.system
    if system:
        accelerators = system.get("accelerators") or []
        tags["system.cpu"] = system.get("cpu_model")
        tags["system.cpu_cores"] = system.get("cpu_physical_cores")
        tags["system.memory_gb"] = system.get("memory_gb")
        tags["system.accelerator"] = ", ".join(accelerators) if accelerators else "none"
        tags["system.os"] = system.get("os")
        tags["system.host"] = system.get("hostname")
    for package, version in r.packages.items():
        tags[f"pkg.{package}"] = version
    if r.git_commit:
        tags["git_commit"] = r.git_commit
        tags["mlflow.source.git.commit"] = r.git_commit  # shown by the UI as the source version
    if not r.ok and r.error:
        tags[TAG_ERROR] = r.error
        tags["error_kind"] = r.error_kind
    return {
        clip(k, MAX_KEY): clip(v if isinstance(v, str) else json.dumps(v), MAX_TAG_VALUE)
        for k, v in tags.items()
        if v is not None
    }


def run_status(results: RunRecord | Mapping[str, Any] | None) -> str:
    """MLflow status of a finished job: FAILED when its record says so (or is missing)."""
    r = as_record(results)
    return FINISHED if r is not None and r.ok else FAILED


def failure_note(results: RunRecord | Mapping[str, Any] | None) -> str | None:
    """The description shown on a failed run's page: its one-line reason."""
    r = as_record(results)
    if r is not None and r.ok:
        return None
    return f"**FAILED**: {(r.error if r else None) or 'no reason recorded'}"


def job_run_name(config: Mapping[str, Any], job_num: Any = None) -> str:
    """A short readable name for a job's run: the knobs one sweeps over most."""
    backend = config.get("backend") or {}
    scenario = config.get("scenario") or {}
    parts = [
        str(backend.get("name", "?")),
        str(backend.get("precision", config.get("precision", ""))),
        f"batch={backend.get('batch_size', config.get('batch'))}",
    ]
    threads = config.get("threads")
    if threads:
        parts.append(f"threads={threads}")
    parts.append(str(scenario.get("name", "")))
    name = " ".join(p for p in parts if p)
    return f"#{job_num} {name}" if job_num is not None else name
