"""Read loadgen's `mlperf_log_detail.txt` into a typed record.

The detail log is the machine-readable record of a loadgen test: one `:::MLLOG {json}` line per
event. We read it instead of the printed summary because its keys are stable and typed, and it is
what the submission checker reads. Like the checker, when a key occurs more than once the first
value wins (`raw`); errors and warnings are kept in full, in order.

Headline result per scenario (the key the v6.x submission checker reports):
Offline `result_samples_per_second`, Server `result_completed_samples_per_sec`,
SingleStream `early_stopping_latency_ss` (ns), MultiStream `early_stopping_latency_ms` (ns, despite
the name). Latency results fall back to the plain percentile when early stopping gave no estimate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bert_sweep.errors import HarnessError

MARKER = ":::MLLOG"

# result key per scenario, and its unit
RESULT_KEYS = {
    "Offline": ("result_samples_per_second", "samples/s"),
    "Server": ("result_completed_samples_per_sec", "samples/s"),
    "SingleStream": ("early_stopping_latency_ss", "ns"),
    "MultiStream": ("early_stopping_latency_ms", "ns"),
}
# when early stopping could not estimate a latency: the scenario's target percentile
_LATENCY_FALLBACK = {
    "SingleStream": "result_90.00_percentile_latency_ns",
    "MultiStream": "result_99.00_percentile_per_query_latency_ns",
}
# the checks whose conjunction is result_validity (results.cc PerformanceSummary::LogDetail)
VALIDITY_CHECKS = (
    "result_min_duration_met",
    "result_min_queries_met",
    "result_perf_constraints_met",
    "early_stopping_met",
)
_PERCENTILES = {"p50": "50.00", "p90": "90.00", "p95": "95.00", "p97": "97.00", "p99": "99.00"}
_PERCENTILES["p99.9"] = "99.90"


@dataclass
class LoadgenLog:
    """What one loadgen test reported. Missing keys are None (e.g. no result in accuracy mode)."""

    path: str
    scenario: str | None = None
    mode: str | None = None
    result_key: str | None = None
    result: float | None = None
    result_unit: str | None = None
    validity: str | None = None  # "VALID" / "INVALID"; None in accuracy mode
    invalid_reasons: list[str] = field(default_factory=list)  # failed checks of VALIDITY_CHECKS
    invalid_recommendation: str | None = None  # loadgen's result_invalid_reason text
    early_stopping_result: str | None = None
    query_count: int | None = None
    overlatency_query_count: int | None = None
    samples_per_second: float | None = None  # Offline
    scheduled_samples_per_second: float | None = None  # Server
    completed_samples_per_second: float | None = None  # Server
    qps_w_lg: float | None = None  # SingleStream
    qps_wo_lg: float | None = None  # SingleStream
    latency_ns: dict[str, float] = field(default_factory=dict)  # min/mean/p50…p99.9/max
    query_latency_ns: dict[str, float] = field(default_factory=dict)  # MultiStream per query
    num_errors: int | None = None  # loadgen's own count
    errors: list[dict] = field(default_factory=list)  # {"key", "value"} of is_error records
    warnings: list[dict] = field(default_factory=list)
    effective: dict[str, object] = field(default_factory=dict)  # effective_* without the prefix
    qsl_rng_seed: int | None = None
    sample_index_rng_seed: int | None = None
    schedule_rng_seed: int | None = None
    loadgen_version: str | None = None
    loadgen_git_hash: str | None = None
    raw: dict[str, object] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """A performance result that can be reported: VALID and no loadgen errors."""
        return self.validity == "VALID" and not self.errors


def read_mllog_records(path: Path) -> list[dict]:
    """All `:::MLLOG` records of a detail log, in order; HarnessError on any unreadable line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{path}: loadgen detail log not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: cannot read loadgen detail log ({exc})") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not line.startswith(MARKER):
            raise HarnessError(f"{path}: line {number}: expected '{MARKER} {{json}}'")
        try:
            record = json.loads(line[len(MARKER) :])
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}: line {number}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("key"), str):
            raise HarnessError(f"{path}: line {number}: expected an object with a 'key'")
        records.append(record)
    if not records:
        raise HarnessError(f"{path}: no {MARKER} records (empty or truncated loadgen log)")
    return records


def _number(raw: dict, key: str) -> float | None:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _integer(raw: dict, key: str) -> int | None:
    value = raw.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _result(raw: dict, scenario: str | None) -> tuple[str | None, float | None, str | None]:
    if scenario not in RESULT_KEYS:
        return None, None, None
    key, unit = RESULT_KEYS[scenario]
    value = _number(raw, key)
    if scenario in _LATENCY_FALLBACK and not value:
        key = _LATENCY_FALLBACK[scenario]
        value = _number(raw, key)
    return (key, value, unit) if value is not None else (None, None, None)


def parse_detail_log(path: Path) -> LoadgenLog:
    """Parse `mlperf_log_detail.txt` (see module docstring for which keys mean what)."""
    records = read_mllog_records(path)
    raw: dict[str, object] = {}
    errors, warnings = [], []
    for record in records:
        key, value = record["key"], record.get("value")
        raw.setdefault(key, value)
        meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        if meta.get("is_error"):
            errors.append({"key": key, "value": value})
        elif meta.get("is_warning"):
            warnings.append({"key": key, "value": value})

    scenario = raw.get("effective_scenario") or raw.get("requested_scenario")
    mode = raw.get("effective_test_mode") or raw.get("requested_test_mode")
    result_key, result, unit = _result(raw, scenario)
    validity = raw.get("result_validity")
    reasons = [k for k in VALIDITY_CHECKS if raw.get(k) is False]

    latency = {"min": "result_min_latency_ns", "mean": "result_mean_latency_ns"}
    latency |= {p: f"result_{v}_percentile_latency_ns" for p, v in _PERCENTILES.items()}
    latency["max"] = "result_max_latency_ns"
    per_query = {"min": "result_min_query_latency_ns", "mean": "result_mean_query_latency_ns"}
    per_query |= {p: f"result_{v}_percentile_per_query_latency_ns" for p, v in _PERCENTILES.items()}
    per_query["max"] = "result_max_query_latency_ns"

    version = raw.get("loadgen_version")
    lg_version, lg_hash = None, None
    if isinstance(version, str):
        lg_version, _, lg_hash = (part.strip() for part in version.partition("@"))
        lg_hash = lg_hash or None

    def seed(name: str) -> int | None:
        found = _integer(raw, f"effective_{name}")
        return found if found is not None else _integer(raw, f"requested_{name}")

    return LoadgenLog(
        path=str(path),
        scenario=scenario if isinstance(scenario, str) else None,
        mode=mode if isinstance(mode, str) else None,
        result_key=result_key,
        result=result,
        result_unit=unit,
        validity=validity if isinstance(validity, str) else None,
        invalid_reasons=reasons,
        invalid_recommendation=(raw.get("result_invalid_reason") or "").strip() or None,
        early_stopping_result=(raw.get("early_stopping_result") or "").strip() or None,
        query_count=_integer(raw, "result_query_count"),
        overlatency_query_count=_integer(raw, "result_overlatency_query_count"),
        samples_per_second=_number(raw, "result_samples_per_second"),
        scheduled_samples_per_second=_number(raw, "result_scheduled_samples_per_sec"),
        completed_samples_per_second=_number(raw, "result_completed_samples_per_sec"),
        qps_w_lg=_number(raw, "result_qps_with_loadgen_overhead"),
        qps_wo_lg=_number(raw, "result_qps_without_loadgen_overhead"),
        latency_ns={k: v for k, key in latency.items() if (v := _number(raw, key)) is not None},
        query_latency_ns={
            k: v for k, key in per_query.items() if (v := _number(raw, key)) is not None
        },
        num_errors=_integer(raw, "num_errors"),
        errors=errors,
        warnings=warnings,
        effective={k[len("effective_") :]: v for k, v in raw.items() if k.startswith("effective_")},
        qsl_rng_seed=seed("qsl_rng_seed"),
        sample_index_rng_seed=seed("sample_index_rng_seed"),
        schedule_rng_seed=seed("schedule_rng_seed"),
        loadgen_version=lg_version,
        loadgen_git_hash=lg_hash,
        raw=raw,
    )
