"""The checker's rules for one result, as small functions that return every violation found.

Each function takes parsed inputs (a loadgen detail log, accuracy.txt text, a systems JSON, a
measurements.json) and returns a list of `Violation`s; none stops at the first problem, so the
user sees everything that would fail at once. `validate.py` walks a tree and applies them.

Sources: mlcommons/inference tools/submission/submission_checker (checks/performance_check.py,
accuracy_check.py, system_check.py, measurements_checks.py, compliance_check.py) and the older
single-file checker (file sets, folder hygiene). Stricter than the v6 checker in one place on
purpose: a performance run must be `VALID` (the v6 checker no longer rejects INVALID runs, the
older one and TEST01's verify_performance.py do, and an INVALID result is not a result).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bert_sweep.harness.mllog import LoadgenLog
from bert_sweep.submission.versions import (
    DATASET_SIZE,
    F1_PATTERN,
    HASH_PATTERN,
    MEASUREMENTS_FIELDS,
    MIN_DURATION_MS,
    OFFLINE_MIN_SAMPLES_PER_QUERY,
    PERFORMANCE_SAMPLE_COUNT,
    SERVER_LATENCY_NS,
    SYSTEM_INTEGER_FIELDS,
    SYSTEM_MEANINGFUL_FIELDS,
    SYSTEM_REQUIRED_FIELDS,
    VALID_STATUSES,
    VALID_SYSTEM_TYPES,
    CheckerVersion,
    accuracy_target_f1,
)

EARLY_STOPPING_SCENARIOS = ("Server", "SingleStream", "MultiStream")


@dataclass(frozen=True)
class Violation:
    """One broken rule: which rule, where (path relative to the tree root), and what is wrong."""

    rule: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.path}: {self.message}"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def loadgen_errors(log: LoadgenLog, path: str) -> list[Violation]:
    """Loadgen's own errors (records with metadata.is_error) fail a result."""
    return [
        Violation("loadgen-errors", path, f"loadgen error {e['key']}: {str(e['value'])[:160]}")
        for e in log.errors
    ]


def seeds(log: LoadgenLog, path: str, version: CheckerVersion) -> list[Violation]:
    """The effective rng seeds must be the ones checker `version` expects."""
    found = {
        "qsl_rng_seed": log.qsl_rng_seed,
        "sample_index_rng_seed": log.sample_index_rng_seed,
        "schedule_rng_seed": log.schedule_rng_seed,
    }
    return [
        Violation(
            "seeds",
            path,
            f"{name}={found[name]} but checker {version.name} expects {expected} "
            f"(loadgen {log.loadgen_version or '?'} ran it; "
            f"{version.name} needs {version.loadgen})",
        )
        for name, expected in version.seeds.items()
        if found[name] != expected
    ]


def performance_log(
    log: LoadgenLog,
    path: str,
    version: CheckerVersion,
    division: str,
    scenario: str,
) -> list[Violation]:
    """A submission performance run: VALID, seeds, 600 s, 10,833 samples, scenario limits."""
    out = loadgen_errors(log, path) + seeds(log, path, version)
    eff = log.effective
    if log.mode != "PerformanceOnly":
        out.append(Violation("test-mode", path, f"test mode {log.mode}, expected PerformanceOnly"))
    if log.scenario != scenario:
        out.append(Violation("scenario", path, f"log scenario {log.scenario}, folder {scenario}"))
    if log.validity != "VALID":
        why = ", ".join(log.invalid_reasons) or log.invalid_recommendation or "no reason logged"
        out.append(Violation("validity", path, f"result is {log.validity} ({why})"))
    duration = _int(eff.get("min_duration_ms"))
    if duration is None or duration < MIN_DURATION_MS:
        out.append(
            Violation(
                "min-duration",
                path,
                f"effective_min_duration_ms={duration}, expected >= {MIN_DURATION_MS}",
            )
        )
    count = _int(eff.get("performance_sample_count"))
    if count is None or count < PERFORMANCE_SAMPLE_COUNT:
        out.append(
            Violation(
                "performance-sample-count",
                path,
                f"effective_performance_sample_count={count}, expected >= "
                f"{PERFORMANCE_SAMPLE_COUNT}",
            )
        )
    spq = _int(eff.get("samples_per_query"))
    # The v6 checker applies the Offline query size in closed only; v5.1 in every division.
    offline_rule = scenario == "Offline" and (division == "closed" or version.layout == "v5")
    if offline_rule and (spq is None or spq < OFFLINE_MIN_SAMPLES_PER_QUERY):
        out.append(
            Violation(
                "samples-per-query",
                path,
                f"effective_samples_per_query={spq}, expected >= {OFFLINE_MIN_SAMPLES_PER_QUERY}",
            )
        )
    if scenario in EARLY_STOPPING_SCENARIOS and log.raw.get("early_stopping_met") is not True:
        out.append(
            Violation("early-stopping", path, log.early_stopping_result or "condition not met")
        )
    if scenario == "Server":
        latency = _int(eff.get("target_latency_ns"))
        if latency is None or latency > SERVER_LATENCY_NS:
            out.append(
                Violation(
                    "latency",
                    path,
                    f"effective_target_latency_ns={latency}, expected <= {SERVER_LATENCY_NS}",
                )
            )
    if log.result is None:
        out.append(Violation("result", path, f"no {log.result_key or 'result'} in the log"))
    return out


def accuracy_log(log: LoadgenLog, path: str, scenario: str) -> list[Violation]:
    """The accuracy run: AccuracyOnly over the whole dataset, no loadgen errors."""
    out = loadgen_errors(log, path)
    if log.mode != "AccuracyOnly":
        out.append(Violation("test-mode", path, f"test mode {log.mode}, expected AccuracyOnly"))
    if log.scenario != scenario:
        out.append(Violation("scenario", path, f"log scenario {log.scenario}, folder {scenario}"))
    count = _int(log.effective.get("accuracy_sample_count"))
    if count is None:
        count = _int(log.raw.get("qsl_reported_total_count"))
    if count != DATASET_SIZE:
        out.append(
            Violation(
                "dataset-size",
                path,
                f"accuracy run covered {count} samples, expected the whole dataset "
                f"({DATASET_SIZE})",
            )
        )
    return out


def accuracy_result(
    text: str, path: str, division: str, benchmark: str
) -> tuple[list[Violation], float | None]:
    """accuracy.txt: the F1 line the checker reads and a `hash=` line; closed: F1 >= target."""
    f1 = None
    has_hash = False
    for line in text.splitlines():
        match = re.match(F1_PATTERN, line)
        if match and f1 is None:
            f1 = float(match.group(1))
        if re.match(HASH_PATTERN, line):
            has_hash = True
    out = []
    if f1 is None:
        out.append(
            Violation(
                "accuracy-line", path, 'no {"exact_match": EM, "f1": F1} line the checker reads'
            )
        )
    if not has_hash:
        out.append(Violation("accuracy-hash", path, "no hash=<sha256 of the accuracy log> line"))
    if division == "closed" and f1 is not None:
        target = accuracy_target_f1(benchmark)
        if f1 < target:
            out.append(
                Violation(
                    "accuracy-target",
                    path,
                    f"F1 {f1:.3f} is below the {benchmark} target {target:.3f} (closed division)",
                )
            )
    return out, f1


def system_description(desc: Any, path: str, division: str, submitter: str) -> list[Violation]:
    """systems/<system>.json: required fields, meaningful values, folder consistency."""
    if not isinstance(desc, dict):
        return [Violation("system-json", path, "expected a JSON object")]
    out = []
    for key in SYSTEM_REQUIRED_FIELDS:
        if key not in desc:
            out.append(Violation("system-field", path, f"field {key} is missing"))
        elif key in SYSTEM_MEANINGFUL_FIELDS and not desc[key]:
            out.append(Violation("system-field", path, f"field {key} needs a non-empty value"))
    for key in SYSTEM_INTEGER_FIELDS:
        value = desc.get(key)
        if key in desc and not (_int(value) is not None or str(value).strip().isdigit()):
            out.append(
                Violation("system-field", path, f"field {key}={value!r}: expected an integer")
            )
    status = str(desc.get("status", "")).lower()
    if status not in VALID_STATUSES:
        out.append(Violation("system-status", path, f"status {status!r} not in {VALID_STATUSES}"))
    if desc.get("system_type") not in VALID_SYSTEM_TYPES:
        out.append(
            Violation("system-type", path, f"system_type {desc.get('system_type')!r} is not valid")
        )
    elif desc.get("system_type") == "datacenter":
        out.append(
            Violation(
                "system-type",
                path,
                "system_type 'datacenter': BERT is an edge benchmark (use edge or datacenter,edge)",
            )
        )
    if str(desc.get("division", "")).lower() != division:
        out.append(
            Violation(
                "system-division", path, f"division {desc.get('division')!r}, folder {division}"
            )
        )
    if str(desc.get("submitter", "")).lower() != submitter.lower():
        out.append(
            Violation(
                "system-submitter", path, f"submitter {desc.get('submitter')!r}, folder {submitter}"
            )
        )
    is_network = str(desc.get("is_network", "false")).lower() == "true"
    if division == "closed" and is_network:
        out.append(Violation("system-network", path, "is_network true in the closed division"))
    return out


def measurements(data: Any, path: str) -> list[Violation]:
    """measurements.json: the five fields, each with a value."""
    if not isinstance(data, dict):
        return [Violation("measurements-json", path, "expected a JSON object")]
    out = []
    for key in MEASUREMENTS_FIELDS:
        if key not in data:
            out.append(Violation("measurements-field", path, f"field {key} is missing"))
        elif not data[key]:
            out.append(
                Violation("measurements-field", path, f"field {key} needs a non-empty value")
            )
    return out


def verify_text(text: str | None, path: str, rule: str) -> list[Violation]:
    """TEST01's verify_*.txt must say TEST PASS."""
    if text is None:
        return [Violation(rule, path, "missing")]
    if "TEST PASS" not in text:
        return [Violation(rule, path, "does not say TEST PASS")]
    return []


def test01_accuracy_delta(
    baseline: str, compliance: str, path: str, benchmark: str
) -> list[Violation]:
    """When TEST01's logs differ, the subset F1s must agree within 1% (0.1% for bert-99.9)."""
    values = []
    for text in (baseline, compliance):
        found = [re.match(F1_PATTERN, line) for line in text.splitlines()]
        f1s = [float(m.group(1)) for m in found if m]
        values.append(f1s[0] if f1s else 0.0)
    if not all(values):
        return [Violation("test01-accuracy", path, "baseline/compliance accuracy has no F1 line")]
    allowed = 0.1 if benchmark.endswith("99.9") else 1.0
    delta = abs(1 - values[0] / values[1]) * 100
    if delta > allowed:
        return [
            Violation(
                "test01-accuracy",
                path,
                f"F1 baseline {values[0]:.3f} vs compliance {values[1]:.3f}: {delta:.2f}% apart "
                f"(allowed {allowed}%)",
            )
        ]
    return []
