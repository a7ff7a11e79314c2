"""The loadgen harness end to end: real loadgen, real onnxruntime, real SQuAD features.

The model is a tiny ONNX graph built here with onnx.helper that has the MLPerf BERT signature
and, like BERT with an attention mask, mixes positions only through masked reductions: its logits
at real positions do not depend on padding, so trimmed and padded runs must agree exactly. It is
integer-exact in float32, so the bytes in loadgen's accuracy log can be compared for equality.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from bert_sweep.backends.config import BackendConfig
from bert_sweep.backends.noop.backend import NoopBackend
from bert_sweep.errors import ConfigError, HarnessError
from bert_sweep.features.squad_features import Features
from bert_sweep.harness.qsl import FeatureQSL
from bert_sweep.harness.runner import ERROR_FILE, run_test
from bert_sweep.harness.spec import TestSpec
from bert_sweep.harness.sut import PAD_LOGIT, BatchingSUT
from bert_sweep.harness.user_conf import render_user_conf

SEQ = 384
ROW_BYTES = SEQ * 2 * 4  # float32 [seq, 2]
TIMEOUT_S = 180  # generous: a hung harness fails the test instead of the suite
ONNX_BACKEND = {"_target_": "bert_sweep.backends.onnx.backend.OnnxBackend", "intra_op_threads": 1}


# -- fixtures: real features, tiny real models ----------------------------------------------------
@pytest.fixture(scope="module")
def features_path(shared_data, tmp_path_factory) -> Path:
    """48 real SQuAD dev features spread over the set (lengths vary from ~50 to ~320)."""
    from bert_sweep.assets.squad import load_squad
    from bert_sweep.assets.vocab import load_tokenizer
    from bert_sweep.features.squad_features import convert_examples_to_features

    examples = load_squad(shared_data / "squad-v1.1-dev.json")[::200][:48]
    tokenizer = load_tokenizer(shared_data / "bert-uncased-vocab.txt")
    features = convert_examples_to_features(examples, tokenizer, progress=False)
    path = tmp_path_factory.mktemp("features") / "features.npz"
    features.save(path)
    return path


def _io_info():
    from onnx import TensorProto, helper

    names_in = ("input_ids", "input_mask", "segment_ids")
    names_out = ("output_start_logits", "output_end_logits")
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["b", "s"]) for n in names_in]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", "s"]) for n in names_out]
    return inputs, outputs


def _save(nodes, inits, path: Path) -> Path:
    import onnx
    from onnx import helper

    inputs, outputs = _io_info()
    graph = helper.make_graph(nodes, "tiny_qa", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """start = ids·mask + 0.001·Σ(ids·mask); end = 7·segment − Σ mask (per row)."""
    from onnx import TensorProto as T
    from onnx import helper

    inits = [
        helper.make_tensor("axes", T.INT64, [1], [1]),
        helper.make_tensor("scale", T.FLOAT, [], [0.001]),
        helper.make_tensor("seven", T.FLOAT, [], [7.0]),
    ]
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids"], to=T.FLOAT),
        helper.make_node("Cast", ["input_mask"], ["mask"], to=T.FLOAT),
        helper.make_node("Cast", ["segment_ids"], ["seg"], to=T.FLOAT),
        helper.make_node("Mul", ["ids", "mask"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axes"], ["total"], keepdims=1),
        helper.make_node("ReduceSum", ["mask", "axes"], ["count"], keepdims=1),
        helper.make_node("Mul", ["total", "scale"], ["total_s"]),
        helper.make_node("Add", ["masked", "total_s"], ["output_start_logits"]),
        helper.make_node("Mul", ["seg", "seven"], ["seg7"]),
        helper.make_node("Sub", ["seg7", "count"], ["output_end_logits"]),
    ]
    return _save(nodes, inits, tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="module")
def failing_model(tmp_path_factory) -> Path:
    """Runs for batches of a multiple of 5 rows; onnxruntime raises inside predict otherwise."""
    from onnx import TensorProto as T
    from onnx import helper

    inits = [
        helper.make_tensor("by5", T.INT64, [3], [-1, 5, SEQ]),
        helper.make_tensor("flat", T.INT64, [2], [-1, SEQ]),
    ]
    nodes = [
        helper.make_node("Reshape", ["input_ids", "by5"], ["grouped"], name="deliberate_failure"),
        helper.make_node("Reshape", ["grouped", "flat"], ["back"]),
        helper.make_node("Cast", ["back"], ["output_start_logits"], to=T.FLOAT),
        helper.make_node("Cast", ["input_mask"], ["output_end_logits"], to=T.FLOAT),
    ]
    return _save(nodes, inits, tmp_path_factory.mktemp("model") / "failing.onnx")


def _reference_logits(model: Path, features: Features, rows) -> np.ndarray:
    """The model's output for `rows`, computed directly with onnxruntime: [n, seq, 2]."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feed = {
        "input_ids": features.input_ids[rows].astype(np.int64),
        "input_mask": features.input_mask[rows].astype(np.int64),
        "segment_ids": features.segment_ids[rows].astype(np.int64),
    }
    start, end = session.run(["output_start_logits", "output_end_logits"], feed)
    return np.stack([start, end], axis=-1).astype(np.float32)


def _read_accuracy_log(path: str) -> dict[int, np.ndarray]:
    """qsl_idx → float32 [seq, 2] decoded from mlperf_log_accuracy.json (one entry each)."""
    entries = json.loads(Path(path).read_text())
    decoded = {}
    for entry in entries:
        raw = bytes.fromhex(entry["data"])
        assert len(raw) == ROW_BYTES, f"qsl_idx {entry['qsl_idx']}: {len(raw)} bytes"
        assert entry["qsl_idx"] not in decoded, f"qsl_idx {entry['qsl_idx']} logged twice"
        decoded[entry["qsl_idx"]] = np.frombuffer(raw, dtype=np.float32).reshape(SEQ, 2)
    return decoded


def _spec(tmp_path, name, features_path, model, scenario, mode, conf=None, **kw) -> TestSpec:
    return TestSpec(
        mode=mode,
        scenario=scenario,
        user_conf=render_user_conf("bert", scenario, conf or {}),
        output_dir=str(tmp_path / name),
        features_path=str(features_path),
        backend=kw.pop("backend", ONNX_BACKEND),
        model_path=str(model),
        **kw,
    )


# -- QSL and SUT units (no loadgen needed) --------------------------------------------------------
def test_qsl_subset_is_int64_contiguous_and_trims(features_path):
    features = Features.load(features_path)
    rows = [5, 0, 17, 3]
    qsl = FeatureQSL(features, rows, performance_sample_count=2)
    assert len(qsl) == 4 and qsl.performance_sample_count == 2
    for array in (qsl.input_ids, qsl.input_mask, qsl.segment_ids):
        assert array.dtype == np.int64 and array.flags.c_contiguous
    np.testing.assert_array_equal(qsl.input_ids, features.input_ids[rows])
    np.testing.assert_array_equal(qsl.lengths, features.lengths()[rows])
    batch = qsl.batch(np.array([2, 1]), length=int(qsl.lengths[[2, 1]].max()))
    width = int(features.lengths()[[17, 0]].max())
    assert batch.input_ids.shape == (2, width) and batch.input_ids.flags.c_contiguous
    np.testing.assert_array_equal(batch.segment_ids, features.segment_ids[[17, 0], :width])


@pytest.mark.parametrize(
    ("rows", "count", "field"),
    [([0, 999], None, "sample_rows"), ([], None, "sample_rows"), ([1, 2], 3, "performance")],
)
def test_qsl_rejects_bad_rows_and_counts(features_path, rows, count, field):
    with pytest.raises(ConfigError, match=field):
        FeatureQSL(Features.load(features_path), rows, count)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"workers": 0}, "workers"),
        ({"batch_timeout_ms": -1}, "batch_timeout_ms"),
        ({"scenario": "offline"}, "scenario"),
    ],
)
def test_sut_rejects_bad_settings(features_path, kwargs, field):
    args = {"scenario": "Offline"} | kwargs
    with pytest.raises(ConfigError, match=field):
        BatchingSUT(NoopBackend(), FeatureQSL(Features.load(features_path)), **args)


# -- loadgen runs ---------------------------------------------------------------------------------
def test_offline_accuracy_logs_each_sample_once_with_model_bytes(
    tmp_path, features_path, tiny_model
):
    features = Features.load(features_path)
    rows = list(range(3, 43))  # N = 40 of the 48 features
    spec = _spec(
        tmp_path,
        "acc",
        features_path,
        tiny_model,
        "Offline",
        "accuracy",
        batch_size=8,
        workers=2,
        sample_rows=rows,
    )
    outcome = run_test(spec, timeout_s=TIMEOUT_S)

    logged = _read_accuracy_log(outcome.accuracy_log_path)
    assert sorted(logged) == list(range(len(rows)))  # N unique qsl_idx
    expected = _reference_logits(tiny_model, features, rows)
    for qsl_idx, data in logged.items():
        np.testing.assert_array_equal(data, expected[qsl_idx], err_msg=f"qsl_idx {qsl_idx}")
    assert outcome.samples_issued == len(rows)
    assert outcome.log["mode"] == "AccuracyOnly" and outcome.log["errors"] == []
    assert outcome.sut_stats["max_batch"] == 8
    assert Path(outcome.user_conf_path).read_text() == spec.user_conf


def test_trim_padding_gives_identical_logits_on_real_positions(tmp_path, features_path, tiny_model):
    features = Features.load(features_path)
    lengths = features.lengths()
    runs = {}
    for trim in (False, True):
        spec = _spec(
            tmp_path,
            f"trim-{trim}",
            features_path,
            tiny_model,
            "Offline",
            "accuracy",
            batch_size=6,
            trim_padding=trim,
            sort_by_length=trim,
        )
        runs[trim] = run_test(spec, timeout_s=TIMEOUT_S)
    padded = _read_accuracy_log(runs[False].accuracy_log_path)
    trimmed = _read_accuracy_log(runs[True].accuracy_log_path)
    assert sorted(padded) == sorted(trimmed) == list(range(len(features)))
    for i in range(len(features)):
        n = int(lengths[i])
        np.testing.assert_array_equal(trimmed[i][:n], padded[i][:n], err_msg=f"sample {i}")
        assert n == SEQ or np.all(trimmed[i][n:] == PAD_LOGIT)
    # trimming sends fewer positions to the model; sorting by length makes it closer to ideal
    stats_padded, stats_trimmed = runs[False].sut_stats, runs[True].sut_stats
    assert stats_padded["tokens_computed"] == len(features) * SEQ
    assert stats_trimmed["tokens_real"] <= stats_trimmed["tokens_computed"]
    assert stats_trimmed["tokens_computed"] < stats_padded["tokens_computed"]


def test_offline_performance_valid_and_each_run_applies_mlperf_conf(
    tmp_path, features_path, tiny_model
):
    """Calibrate, then a VALID run: two run_test calls from one parent, both with mlperf.conf."""
    settings = {
        "min_duration": 600,
        "min_query_count": 2000,
        "target_qps": 1000,
        "performance_sample_count_override": 48,
    }
    kw = {"batch_size": 8, "workers": 2}
    probe = run_test(
        _spec(
            tmp_path, "probe", features_path, tiny_model, "Offline", "performance", settings, **kw
        ),
        timeout_s=TIMEOUT_S,
    )
    rate = probe.log["result"]
    assert rate and rate > 0 and probe.log["result_key"] == "result_samples_per_second"
    # the one Offline query holds 1.1 × min_duration × target_qps samples: ask for 3× the rate
    settings = settings | {"target_qps": 3 * rate, "min_query_count": 1}
    run = run_test(
        _spec(
            tmp_path, "valid", features_path, tiny_model, "Offline", "performance", settings, **kw
        ),
        timeout_s=TIMEOUT_S,
    )
    log = run.log
    assert log["validity"] == "VALID", (log["invalid_reasons"], log["invalid_recommendation"])
    assert log["errors"] == [] and log["invalid_reasons"] == []
    assert run.samples_issued == log["effective"]["samples_per_query"] > 0
    assert log["effective"]["min_duration_ms"] == 600
    for name in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"):
        assert probe.log[name] == log[name] != 0, name
    for outcome in (probe, run):
        assert not any(e["key"] == "error_invalid_config" for e in outcome.log["errors"])


@pytest.mark.parametrize(
    ("scenario", "conf"),
    [
        (
            "Server",
            {"target_qps": 200, "target_latency": 100, "min_duration": 500, "min_query_count": 50},
        ),
        ("SingleStream", {"target_latency": 0.02, "min_duration": 500, "min_query_count": 50}),
        ("MultiStream", {"target_latency": 0.05, "min_duration": 500, "min_query_count": 50}),
    ],
)
def test_latency_scenarios_complete_and_parse(tmp_path, features_path, tiny_model, scenario, conf):
    spec = _spec(
        tmp_path,
        scenario,
        features_path,
        tiny_model,
        scenario,
        "performance",
        conf | {"performance_sample_count_override": 48},
        batch_size=4,
        workers=2,
    )
    outcome = run_test(spec, timeout_s=TIMEOUT_S)
    log = outcome.log
    assert log["scenario"] == scenario and log["mode"] == "PerformanceOnly"
    assert log["validity"] in ("VALID", "INVALID")
    assert log["result"] and log["result"] > 0 and log["raw"][log["result_key"]] == log["result"]
    lat = log["latency_ns"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    per_query = log["effective"]["samples_per_query"]
    assert outcome.samples_issued == log["query_count"] * per_query
    assert log["query_count"] >= 50
    assert outcome.sut_stats["failed_samples"] == 0


def test_server_flush_releases_a_partly_filled_batch(tmp_path, features_path, tiny_model):
    """With a 4 s fill timeout only FlushQueries can release the last batch quickly."""
    conf = {
        "target_qps": 100,
        "target_latency": 10000,
        "min_duration": 400,
        "min_query_count": 30,
        "performance_sample_count_override": 48,
    }
    spec = _spec(
        tmp_path,
        "flush",
        features_path,
        tiny_model,
        "Server",
        "performance",
        conf,
        batch_size=12,
        batch_timeout_ms=4000,
    )
    outcome = run_test(spec, timeout_s=TIMEOUT_S)
    assert outcome.samples_issued == outcome.log["query_count"] >= 30
    assert outcome.sut_stats["max_batch"] == 12  # batches did fill while queries kept coming
    # the last, partly filled batch went out on FlushQueries, not after 4 s waiting for a 12th
    # sample (a count, not a wall-time bound: the outcome must not depend on the machine's speed)
    assert outcome.sut_stats["timed_out_batches"] == 0, outcome.sut_stats


def test_backend_error_fails_the_test_without_hanging(tmp_path, features_path, failing_model):
    backend = ONNX_BACKEND | {"graph_optimization_level": "disable"}
    spec = _spec(
        tmp_path,
        "fail",
        features_path,
        failing_model,
        "Offline",
        "accuracy",
        batch_size=5,
        sample_rows=list(range(12)),
        backend=backend,
    )
    with pytest.raises(HarnessError, match="failed in predict") as info:
        run_test(spec, timeout_s=TIMEOUT_S)
    message = str(info.value)
    assert "deliberate_failure" in message and "\n" not in message
    assert "predict" in (Path(spec.output_dir) / ERROR_FILE).read_text()


@dataclasses.dataclass
class CrashConfig(BackendConfig):
    """A backend whose construction kills the loadgen child or hangs it (`how`: sigkill |
    exit7 | hang)."""

    _target_: str = "tests.test_harness.CrashBackend"
    name: str = "crash"
    how: str = "sigkill"


class CrashBackend(NoopBackend):
    def __init__(self, config: CrashConfig) -> None:
        if config.how == "hang":
            time.sleep(120)
        if config.how == "sigkill":
            signal.raise_signal(signal.SIGKILL)
        os._exit(7)


@pytest.mark.parametrize(
    ("how", "expected"), [("sigkill", "-9, SIGKILL"), ("exit7", "exit code 7")]
)
def test_child_crash_reports_exit_code(tmp_path, features_path, tiny_model, how, expected):
    spec = _spec(
        tmp_path,
        "crash",
        features_path,
        tiny_model,
        "Offline",
        "accuracy",
        backend=CrashConfig(how=how),
    )
    with pytest.raises(HarnessError, match="died without a result") as info:
        run_test(spec, timeout_s=TIMEOUT_S)
    assert expected in str(info.value)


def test_timeout_kills_the_child(tmp_path, features_path, tiny_model):
    spec = _spec(
        tmp_path,
        "slow",
        features_path,
        tiny_model,
        "Offline",
        "accuracy",
        backend=CrashConfig(how="hang"),
    )
    with pytest.raises(HarnessError, match="still running after 5 s"):
        run_test(spec, timeout_s=5)


def test_bad_backend_target_is_a_one_line_error(tmp_path, features_path, tiny_model):
    spec = _spec(
        tmp_path,
        "bad",
        features_path,
        tiny_model,
        "Offline",
        "accuracy",
        backend={"_target_": "bert_sweep.backends.no_such_module.Nope"},
    )
    with pytest.raises(HarnessError, match=r"backend\._target_") as info:
        run_test(spec, timeout_s=TIMEOUT_S)
    assert "\n" not in str(info.value)


def test_stray_audit_config_in_cwd_does_not_affect_the_run(
    tmp_path, features_path, tiny_model, monkeypatch
):
    """Run from a cwd holding an audit.config, with paths given relative to that cwd."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    # if loadgen read this, the run would repeat one sample and log an audit warning
    (cwd / "audit.config").write_text("*.*.performance_issue_same = 1\n")
    shutil.copy(features_path, cwd / "features.npz")
    shutil.copy(tiny_model, cwd / "model.onnx")
    monkeypatch.chdir(cwd)
    conf = {"min_duration": 100, "target_qps": 1000, "performance_sample_count_override": 48}
    spec = _spec(Path("."), "out", "features.npz", "model.onnx", "Offline", "performance", conf)
    outcome = run_test(spec, timeout_s=TIMEOUT_S)
    log = outcome.log
    assert log["effective"]["performance_issue_same"] is False
    assert not any("audit" in str(w["value"]).lower() for w in log["warnings"])
    assert Path(outcome.output_dir) == cwd / "out"
    assert outcome.backend_info["model_path"] == str(cwd / "model.onnx")


def test_refuses_audit_config_or_old_logs_in_output_dir(tmp_path, features_path, tiny_model):
    for name, text, reason in [
        ("audit.config", "*.*.performance_issue_same = 1\n", "audit.config"),
        ("mlperf_log_detail.txt", "", "holds loadgen logs"),
    ]:
        spec = _spec(tmp_path, f"pre-{name}", features_path, tiny_model, "Offline", "accuracy")
        os.makedirs(spec.output_dir)
        (Path(spec.output_dir) / name).write_text(text)
        with pytest.raises(HarnessError, match=reason):
            run_test(spec, timeout_s=TIMEOUT_S)


def test_spec_errors_are_raised_before_spawning(tmp_path, features_path, tiny_model):
    with pytest.raises(ConfigError, match="mode"):
        run_test(_spec(tmp_path, "x", features_path, tiny_model, "Offline", "perf"))
    with pytest.raises(ConfigError, match="backend"):
        run_test(
            _spec(
                tmp_path,
                "x",
                features_path,
                tiny_model,
                "Offline",
                "accuracy",
                backend={"name": "onnx"},
            )
        )
