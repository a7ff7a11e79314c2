"""results.json → MLflow params, metrics and tags. Pure functions: no MLflow import, no I/O.

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


def metrics_from_results(results: Mapping[str, Any]) -> dict[str, float]:
    """The figures worth plotting; absent or non-finite figures are left out, never faked."""
    out: dict[str, float | None] = {}
    perf = results.get("performance") or {}
    if perf:
        out["samples_per_second"] = _finite(perf.get("samples_per_second"))
        out["loadgen_result"] = _finite(perf.get("result"))
        out["valid"] = 1.0 if perf.get("validity") == "VALID" else 0.0
        out["samples_issued"] = _finite(perf.get("samples_issued"))
        out["duration_s"] = _finite(perf.get("duration_s"))
        out["target_qps"] = _finite(perf.get("target_qps"))
        for name, ns in (perf.get("latency_ns") or {}).items():
            value = _finite(ns)
            key = f"latency_{str(name).replace('.', '_')}_ms"
            out[key] = None if value is None else value / 1e6
    acc = results.get("accuracy") or {}
    if acc:  # logged as measured; the `accuracy_meaningful` tag says whether they are judged
        out["exact_match"] = _finite(acc.get("exact_match"))
        out["f1"] = _finite(acc.get("f1"))
        out["accuracy_ratio"] = _finite(acc.get("ratio"))
        out["reference_f1"] = _finite(acc.get("reference_f1"))
    verdict = results.get("verdict") or {}
    if "feasible" in verdict:
        out["feasible"] = 1.0 if verdict.get("feasible") else 0.0
    for phase, seconds in (results.get("timings_s") or {}).items():
        out[f"time_{phase}_s"] = _finite(seconds)
    return {k: v for k, v in out.items() if v is not None}


def tags_from_results(results: Mapping[str, Any]) -> dict[str, str]:
    """Labels to filter and group by: what ran, where, with which software, and the outcome."""
    tags: dict[str, Any] = {
        name: results.get(name)
        for name in ("model", "dataset", "backend", "device", "scenario", "precision", "profile")
    }
    tags["status"] = results.get("status")
    tags["verdict"] = (results.get("verdict") or {}).get("verdict")
    tags["submission_ready"] = results.get("submission_ready")
    acc = results.get("accuracy") or {}
    if acc:
        tags["accuracy_meaningful"] = acc.get("meaningful", True)
        tags["accuracy_reused"] = acc.get("reused")
        if acc.get("reused"):  # its loadgen logs are in the run that measured it
            tags["accuracy_measured_in"] = acc.get("measured_in")
    system = results.get("system") or {}
    if system:
        accelerators = system.get("accelerators") or []
        tags["system.cpu"] = system.get("cpu_model")
        tags["system.cpu_cores"] = system.get("cpu_physical_cores")
        tags["system.memory_gb"] = system.get("memory_gb")
        tags["system.accelerator"] = ", ".join(accelerators) if accelerators else "none"
        tags["system.os"] = system.get("os")
        tags["system.host"] = system.get("hostname")
    for package, version in (results.get("packages") or {}).items():
        tags[f"pkg.{package}"] = version
    commit = results.get("git_commit")
    if commit:
        tags["git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit  # shown by the UI as the source version
    if results.get("status") == "failed" and results.get("error"):
        tags[TAG_ERROR] = results["error"]
        tags["error_kind"] = results.get("error_kind")
    return {
        clip(k, MAX_KEY): clip(v if isinstance(v, str) else json.dumps(v), MAX_TAG_VALUE)
        for k, v in tags.items()
        if v is not None
    }


def run_status(results: Mapping[str, Any] | None) -> str:
    """MLflow status of a finished job: FAILED when results.json says so (or is missing)."""
    if not results or results.get("status") != "ok":
        return FAILED
    return FINISHED


def failure_note(results: Mapping[str, Any]) -> str | None:
    """The description shown on a failed run's page: its one-line reason."""
    if run_status(results) != FAILED:
        return None
    return f"**FAILED**: {results.get('error') or 'no reason recorded'}"


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
