"""user.conf rendering: exact text, refusal of what loadgen would silently ignore, and a round
trip through real loadgen showing every rendered value is applied as intended."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bert_sweep.errors import ConfigError
from bert_sweep.harness.runner import run_test
from bert_sweep.harness.spec import TestSpec
from bert_sweep.harness.user_conf import USER_CONF_KEYS, render_user_conf


def test_renders_sorted_lines_and_skips_none():
    settings = {"target_qps": 123.4, "min_duration": 1000, "max_duration": None}
    assert render_user_conf("bert", "Offline", settings) == (
        "bert.Offline.min_duration = 1000\nbert.Offline.target_qps = 123.4\n"
    )
    shuffled = dict(reversed(list(settings.items())))
    assert render_user_conf("bert", "Offline", shuffled) == render_user_conf(
        "bert", "Offline", settings
    )
    assert render_user_conf("bert", "Server", {}) == ""


def test_value_forms():
    text = render_user_conf(
        "bert",
        "Server",
        {
            "coalesce_queries": True,
            "min_duration": 500.0,  # whole float for an integer key
            "target_qps": np.float32(2.5),
            "min_query_count": np.int64(64),
            "target_latency_percentile": 99,
            "max_async_queries": 0,  # 0 means unlimited
        },
    )
    assert text.splitlines() == [
        "bert.Server.coalesce_queries = 1",
        "bert.Server.max_async_queries = 0",
        "bert.Server.min_duration = 500",
        "bert.Server.min_query_count = 64",
        "bert.Server.target_latency_percentile = 99",
        "bert.Server.target_qps = 2.5",
    ]
    # target_latency is a double for SingleStream, so fractions of a millisecond are kept
    assert render_user_conf("bert", "SingleStream", {"target_latency": 0.25}) == (
        "bert.SingleStream.target_latency = 0.25\n"
    )


def test_every_known_key_renders_for_some_scenario():
    for key, spec in USER_CONF_KEYS.items():
        scenario = sorted(spec.scenarios)[0]
        value = 1 if spec.kind in ("flag", "int") else 50.0
        assert render_user_conf("bert", scenario, {key: value}).startswith(f"bert.{scenario}.{key}")


@pytest.mark.parametrize(
    ("scenario", "settings", "named"),
    [
        ("Offline", {"target_qsp": 10}, "target_qsp"),  # typo
        ("Offline", {"target_latency": 130}, "target_latency"),  # Offline ignores it
        ("Offline", {"samples_per_query": 4}, "samples_per_query"),  # MultiStream only
        ("SingleStream", {"target_qps": 10}, "target_qps"),
        ("Server", {"target_latency": 130.5}, "target_latency"),  # strtoull would drop .5
        ("Offline", {"target_qps": -1}, "target_qps"),
        ("Offline", {"target_qps": 0}, "target_qps"),
        ("Offline", {"target_qps": math.nan}, "target_qps"),
        ("Offline", {"target_qps": math.inf}, "target_qps"),
        ("Offline", {"target_qps": True}, "target_qps"),
        ("Offline", {"target_qps": "100"}, "target_qps"),
        ("Offline", {"min_query_count": 2.5}, "min_query_count"),
        ("Offline", {"min_query_count": 2**64}, "min_query_count"),
        ("Server", {"target_latency_percentile": 101}, "target_latency_percentile"),
        ("Server", {"coalesce_queries": 2}, "coalesce_queries"),
        ("Offline", {"qsl_rng_seed": 1}, "qsl_rng_seed"),  # only mlperf.conf sets seeds
        ("Offline", {"mode": 2}, "mode"),
        ("Offline", {7: 1}, "user.conf key"),
    ],
)
def test_rejects_what_loadgen_would_ignore_or_misread(scenario, settings, named):
    with pytest.raises(ConfigError, match=named) as info:
        render_user_conf("bert", scenario, settings)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("model", "scenario", "named"),
    [
        ("bert x", "Offline", "loadgen_model"),
        ("", "Offline", "loadgen_model"),
        ("bert", "offline", "scenario"),
    ],
)
def test_rejects_bad_model_or_scenario(model, scenario, named):
    with pytest.raises(ConfigError, match=named):
        render_user_conf(model, scenario, {})


# -- round trip through real loadgen --------------------------------------------------------------
ROUND_TRIP = {
    "Offline": {"target_qps": 2500.5, "min_duration": 150, "max_duration": 60000},
    "Server": {
        "target_qps": 400,
        "target_latency": 75,
        "target_latency_percentile": 97,
        "min_duration": 150,
        "min_query_count": 30,
        "max_async_queries": 0,
        "coalesce_queries": True,
    },
    "SingleStream": {
        "target_latency": 0.25,
        "target_latency_percentile": 95,
        "min_duration": 150,
        "min_query_count": 40,
    },
    "MultiStream": {
        "target_latency": 0.5,
        "samples_per_query": 4,
        "min_duration": 150,
        "min_query_count": 40,
    },
}


@pytest.mark.parametrize("scenario", list(ROUND_TRIP))
def test_loadgen_applies_every_rendered_value(tmp_path, shared_data, scenario):
    """Render, run real loadgen (null backend), and read back what loadgen says it used."""
    from bert_sweep.assets.squad import load_squad
    from bert_sweep.assets.vocab import load_tokenizer
    from bert_sweep.features.squad_features import convert_examples_to_features

    examples = load_squad(shared_data / "squad-v1.1-dev.json")[:12]
    tokenizer = load_tokenizer(shared_data / "bert-uncased-vocab.txt")
    features = convert_examples_to_features(examples, tokenizer, progress=False)
    features.save(tmp_path / "features.npz")
    conf = ROUND_TRIP[scenario] | {"performance_sample_count_override": len(features)}
    spec = TestSpec(
        mode="performance",
        scenario=scenario,
        user_conf=render_user_conf("bert", scenario, conf),
        output_dir=str(tmp_path / "run"),
        features_path=str(tmp_path / "features.npz"),
        backend={"_target_": "bert_sweep.backends.noop.backend.NoopBackend"},
        model_path="unused",
    )
    log = run_test(spec, timeout_s=120).log
    eff, raw = log["effective"], log["raw"]
    assert eff["min_duration_ms"] == conf["min_duration"]
    assert eff["performance_sample_count"] == len(features)
    if "min_query_count" in conf:
        assert eff["min_query_count"] == conf["min_query_count"]
    if "target_qps" in conf:
        assert eff["target_qps"] == pytest.approx(conf["target_qps"])
    if "target_latency_percentile" in conf:
        assert eff["target_latency_percentile"] == pytest.approx(
            conf["target_latency_percentile"] / 100
        )
    ns = conf.get("target_latency", 0) * 1_000_000
    if scenario == "Offline":
        assert eff["max_duration_ms"] == conf["max_duration"]
    elif scenario == "Server":
        assert eff["target_latency_ns"] == ns
        assert eff["max_async_queries"] == 0
        assert raw["requested_server_coalesce_queries"] is True
    elif scenario == "SingleStream":
        assert raw["requested_single_stream_expected_latency_ns"] == pytest.approx(ns)
    else:
        assert raw["requested_multi_stream_expected_latency_ns"] == pytest.approx(ns)
        assert eff["samples_per_query"] == conf["samples_per_query"]
