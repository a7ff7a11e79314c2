"""Detail-log parsing on logs written by real loadgen runs, plus hand-broken files."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from bert_sweep.errors import HarnessError
from bert_sweep.harness.mllog import (
    RESULT_KEYS,
    VALIDITY_CHECKS,
    LoadgenLog,
    parse_detail_log,
    read_mllog_records,
)
from bert_sweep.harness.runner import run_test
from bert_sweep.harness.spec import TestSpec
from bert_sweep.harness.user_conf import render_user_conf

# name → (scenario, mode, user.conf settings); null backend, so each run is short
RUNS = {
    # one Offline query of a few hundred samples finishes long before min_duration: INVALID
    "offline_short": (
        "Offline",
        "performance",
        {"min_duration": 2000, "min_query_count": 100, "target_qps": 100},
    ),
    "offline_accuracy": ("Offline", "accuracy", {}),
    "server": (
        "Server",
        "performance",
        {"target_qps": 300, "target_latency": 50, "min_duration": 300, "min_query_count": 50},
    ),
    # thousands of queries in 300 ms: min duration, min queries and early stopping all met.
    # Loadgen pre-generates queries for the expected latency (here 1 µs: 600,000 of them); one
    # Python SUT round trip takes tens of µs, so no machine runs out before min_duration.
    "single_valid": (
        "SingleStream",
        "performance",
        {"target_latency": 0.001, "min_duration": 300, "min_query_count": 100},
    ),
    # loadgen pre-generates ~22 queries for a 50 ms expectation and runs out: a logged error
    "single_ran_out": (
        "SingleStream",
        "performance",
        {"target_latency": 50, "min_duration": 1000, "min_query_count": 10},
    ),
    "multi": (
        "MultiStream",
        "performance",
        {"target_latency": 0.01, "min_duration": 300, "min_query_count": 50},
    ),
}


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory) -> dict[str, Path]:
    """Real loadgen detail logs, one per entry of RUNS (~5 s in all)."""
    from bert_sweep.assets.squad import load_squad
    from bert_sweep.assets.vocab import load_tokenizer
    from bert_sweep.features.squad_features import convert_examples_to_features

    root = tmp_path_factory.mktemp("mllog")
    examples = load_squad(shared_data / "squad-v1.1-dev.json")[:16]
    tokenizer = load_tokenizer(shared_data / "bert-uncased-vocab.txt")
    features = convert_examples_to_features(examples, tokenizer, progress=False)
    features.save(root / "features.npz")
    paths = {}
    for name, (scenario, mode, conf) in RUNS.items():
        conf = conf | {"performance_sample_count_override": len(features)}
        spec = TestSpec(
            mode=mode,
            scenario=scenario,
            user_conf=render_user_conf("bert", scenario, conf),
            output_dir=str(root / name),
            features_path=str(root / "features.npz"),
            backend={"_target_": "bert_sweep.backends.noop.backend.NoopBackend"},
            model_path="unused",
        )
        paths[name] = Path(run_test(spec, timeout_s=120).detail_path)
    return paths


def test_headline_result_per_scenario(runs):
    for name in ("offline_short", "server", "single_valid", "multi"):
        log = parse_detail_log(runs[name])
        primary, unit = RESULT_KEYS[log.scenario]
        assert log.result_key in (
            primary,
            "result_99.00_percentile_per_query_latency_ns",
            "result_90.00_percentile_latency_ns",
        ), name
        if log.raw.get(primary):
            assert log.result_key == primary, name
        assert log.result == log.raw[log.result_key] and log.result > 0, name
        assert log.result_unit == unit and log.mode == "PerformanceOnly", name


def test_latency_percentiles_in_ns(runs):
    for name in ("offline_short", "server", "single_valid", "multi"):
        log = parse_detail_log(runs[name])
        lat = log.latency_ns
        assert list(lat) == ["min", "mean", "p50", "p90", "p95", "p97", "p99", "p99.9", "max"]
        assert lat["p50"] == log.raw["result_50.00_percentile_latency_ns"]
        assert lat["p99.9"] == log.raw["result_99.90_percentile_latency_ns"]
        ordered = [lat[k] for k in ("min", "p50", "p90", "p95", "p97", "p99", "p99.9", "max")]
        assert ordered == sorted(ordered) and ordered[0] > 0, name


def test_offline_too_short_is_invalid_with_reason(runs):
    log = parse_detail_log(runs["offline_short"])
    assert log.scenario == "Offline" and log.validity == "INVALID" and not log.valid
    assert "result_min_duration_met" in log.invalid_reasons
    assert set(log.invalid_reasons) <= set(VALIDITY_CHECKS)
    assert log.invalid_recommendation  # loadgen's advice, e.g. raise the expected QPS
    assert log.samples_per_second == log.result
    assert log.effective["min_duration_ms"] == RUNS["offline_short"][2]["min_duration"]


def test_single_stream_valid_run(runs):
    log = parse_detail_log(runs["single_valid"])
    assert log.validity == "VALID" and log.valid, (log.invalid_reasons, log.errors)
    assert log.invalid_reasons == [] and log.errors == [] and log.num_errors == 0
    assert log.qps_w_lg > 0 and log.qps_wo_lg > 0
    assert log.query_count >= RUNS["single_valid"][2]["min_query_count"]


def test_server_rates(runs):
    log = parse_detail_log(runs["server"])
    assert log.scheduled_samples_per_second > 0 and log.completed_samples_per_second > 0
    assert log.result == log.completed_samples_per_second
    assert isinstance(log.overlatency_query_count, int) and log.overlatency_query_count >= 0
    assert log.effective["target_latency_ns"] == RUNS["server"][2]["target_latency"] * 10**6


def test_multistream_per_query_latencies(runs):
    log = parse_detail_log(runs["multi"])
    assert log.query_latency_ns["p99"] == log.raw["result_99.00_percentile_per_query_latency_ns"]
    assert log.effective["samples_per_query"] > 1


def test_loadgen_errors_are_collected(runs):
    log = parse_detail_log(runs["single_ran_out"])
    assert [e["key"] for e in log.errors] == ["error_runtime"]
    assert "ran out of generated queries" in log.errors[0]["value"].lower()
    assert log.num_errors == len(log.errors) and not log.valid


def test_accuracy_run_has_no_performance_result(runs):
    log = parse_detail_log(runs["offline_accuracy"])
    assert log.mode == "AccuracyOnly" and log.scenario == "Offline"
    assert log.validity is None and log.result is None and log.latency_ns == {}


def test_seeds_version_and_raw(runs):
    logs = [parse_detail_log(p) for p in runs.values()]
    seeds = {(g.qsl_rng_seed, g.sample_index_rng_seed, g.schedule_rng_seed) for g in logs}
    assert len(seeds) == 1 and 0 not in next(iter(seeds))  # every run applied mlperf.conf
    installed = version("mlcommons-loadgen")
    for log in logs:
        assert log.loadgen_version == installed
        assert re.fullmatch(r"[0-9a-f]{7,40}", log.loadgen_git_hash)
        assert log.raw["loadgen_git_log_message"].startswith(log.loadgen_git_hash)
        assert log.effective["scenario"] == log.scenario
        json.dumps(dataclasses.asdict(log))  # goes into results.json as is


def test_first_value_of_a_repeated_key_wins(runs):
    records = read_mllog_records(runs["offline_short"])
    messages = [r["value"] for r in records if r["key"] == "generic_message"]
    assert len(messages) > 1
    assert parse_detail_log(runs["offline_short"]).raw["generic_message"] == messages[0]


def test_warning_records_are_collected(runs, tmp_path):
    record = {
        "key": "warning_generic_message",
        "value": "hand-made warning",
        "metadata": {"is_error": False, "is_warning": True},
    }
    path = tmp_path / "mlperf_log_detail.txt"
    path.write_text(runs["single_valid"].read_text() + f":::MLLOG {json.dumps(record)}\n")
    log = parse_detail_log(path)
    assert {"key": "warning_generic_message", "value": "hand-made warning"} in log.warnings


# -- unreadable files -----------------------------------------------------------------------------
def _truncated(real: Path, tmp_path: Path) -> Path:
    text = real.read_text()
    path = tmp_path / "truncated.txt"
    path.write_text(text[: len(text) - 40])  # cut inside the last JSON object
    return path


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda real, tmp: tmp / "missing.txt", r"missing\.txt: loadgen detail log not found"),
        (lambda real, tmp: tmp, r"cannot read"),  # a directory
        (lambda real, tmp: _write(tmp / "empty.txt", ""), r"empty\.txt: no :::MLLOG records"),
        (_truncated, r"truncated\.txt: line \d+: invalid JSON"),
        (
            lambda real, tmp: _write(tmp / "plain.txt", "Result is : VALID\n"),
            r"plain\.txt: line 1: expected ':::MLLOG",
        ),
        (
            lambda real, tmp: _write(tmp / "list.txt", ":::MLLOG [1, 2]\n"),
            r"list\.txt: line 1: expected an object",
        ),
    ],
)
def test_unreadable_logs_raise_harness_error(runs, tmp_path, make, pattern):
    path = make(runs["offline_short"], tmp_path)
    with pytest.raises(HarnessError, match=pattern) as info:
        parse_detail_log(path)
    assert "\n" not in str(info.value)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_loadgen_log_is_a_plain_dataclass():
    log = LoadgenLog(path="x")
    assert log.validity is None and not log.valid and dataclasses.asdict(log)["raw"] == {}
