"""Config composition through the real conf/ and the schema's validation."""

from __future__ import annotations

import pytest

from bert_sweep.backends.noop.config import NoopConfig
from bert_sweep.backends.onnx.config import OnnxConfig
from bert_sweep.config import config_dir
from bert_sweep.errors import ConfigError

GROUPS = ["model", "dataset", "backend", "device", "scenario", "profile"]


def test_defaults_compose_to_embedded_onnx_offline_quick(compose):
    _, cfg = compose()
    assert (cfg.model.name, cfg.dataset.name) == ("embedded", "synthetic")
    assert isinstance(cfg.backend, OnnxConfig)
    assert (cfg.scenario.name, cfg.profile.name, cfg.device.name) == ("Offline", "quick", "cpu")


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_option_composes(compose, group):
    options = sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))
    if group == "backend":  # stored from the backend list (backends/registry.py), no YAML
        from bert_sweep.backends.registry import names

        options = names()
    assert options, group
    for option in options:
        extra = {
            ("dataset", "file"): ["dataset.path=/tmp/x.json"],
            ("model", "file"): ["model.file=/tmp/x.onnx"],
            ("backend", "trt"): ["device=cuda", "precision=fp16"],
        }.get((group, option), [])
        _, cfg = compose([f"{group}={option}", *extra])
        assert getattr(cfg, group) is not None


def test_short_knobs_reach_the_backend(compose):
    _, cfg = compose(["batch=64", "threads=2", "precision=int8"])
    assert (cfg.backend.batch_size, cfg.backend.intra_op_threads) == (64, 2)
    assert cfg.backend.precision == "int8"


def test_dataset_follows_the_model_unless_overridden(compose):
    assert compose(["model=bert-large"])[1].dataset.name == "squad"
    assert compose(["model=embedded", "dataset=squad"])[1].dataset.name == "squad"


def test_noop_backend_and_device_providers(compose):
    _, cfg = compose(["backend=noop"])
    assert isinstance(cfg.backend, NoopConfig)
    _, cfg = compose(["device=cuda"])
    assert cfg.backend.providers == ["CUDAExecutionProvider"]


def test_scenario_names_are_loadgen_spellings(compose):
    names = {
        compose([f"scenario={s}"])[1].scenario.name
        for s in ("offline", "server", "singlestream", "multistream")
    }
    assert names == {"Offline", "Server", "SingleStream", "MultiStream"}


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("batch=0", "batch"),
        ("batch=-3", "batch"),
        ("threads=-1", "threads"),
        ("precision=bf16", "backend=onnx precision"),  # onnx takes fp32|fp16|int8 only
        ("scenario.name=Foo", "scenario.name"),
        ("target=0.5", "target"),
        ("harness.workers=0", "harness.workers"),
        ("profile.max_samples=0", "profile.max_samples"),
        ("scenario.target_qps=-1", "scenario.target_qps"),
        ("backend.execution_mode=turbo", "backend.execution_mode"),
    ],
)
def test_bad_values_name_the_field(compose, override, field):
    with pytest.raises(ConfigError) as err:
        compose([override])
    message = str(err.value)
    assert message.startswith(f"{field}=") and "expected" in message
    assert "\n" not in message


def test_profiles_differ_as_documented(compose):
    quick = compose(["profile=quick"])[1].profile
    test = compose(["profile=test"])[1].profile
    sub = compose(["profile=submission"])[1].profile
    assert quick.max_samples and quick.min_duration_ms < 10_000 and not quick.valid_for_submission
    assert test.max_samples is None and test.min_query_count == 1024
    assert sub.min_duration_ms is None and sub.min_query_count is None  # mlperf.conf's 600 s
    assert sub.valid_for_submission


def test_packaging_lists_every_subpackage():
    """pyproject's explicit package list must include every bert_sweep subpackage."""
    import tomllib

    from tests.conftest import ROOT

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "bert_sweep").rglob("__init__.py")
    }
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"
    assert "bert_sweep.conf" in listed
