"""Search space: YAML declaration, conditional parameters, command-line sweeps, Optuna draws."""

from __future__ import annotations

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from bert_sweep.errors import ConfigError
from bert_sweep.search.space import SearchSpace, format_value, split_arguments

GPU_LIKE = {
    "backend": {"choices": ["onnx", "trt"]},
    "batch": {"choices": [8, 16, 32]},
    "threads": {"low": 1, "high": 4},
    "backend.inter_op_threads": {"low": 1, "high": 2, "when": {"backend": "onnx"}},
    "precision": [
        {"choices": ["fp32", "int8"], "when": {"backend": "onnx"}},
        {"choices": ["fp16", "int8"], "when": {"backend": "trt"}},
    ],
}


def _parse(*overrides: str):
    return split_arguments(OverridesParser.create().parse_overrides(list(overrides)))


def _draws(space: SearchSpace, n: int) -> list[dict]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(space.sample(trial))
        study.tell(trial, 0.0)
    return out


def test_conditional_parameters_follow_the_backend():
    space = SearchSpace.build(GPU_LIKE)
    draws = _draws(space, 60)
    assert {d["backend"] for d in draws} == {"onnx", "trt"}
    for d in draws:
        if d["backend"] == "onnx":
            assert d["precision"] in ("fp32", "int8")
            assert 1 <= d["backend.inter_op_threads"] <= 2
        else:
            assert d["precision"] in ("fp16", "int8")
            assert "backend.inter_op_threads" not in d
        assert d["batch"] in (8, 16, 32) and 1 <= d["threads"] <= 4
    # every precision of both variants shows up over 60 draws
    assert {d["precision"] for d in draws} == {"fp32", "fp16", "int8"}


def test_enumerate_counts_conditional_points():
    space = SearchSpace.build(GPU_LIKE)
    points = space.enumerate()
    # onnx: 3 batch x 4 threads x 2 inter x 2 precision; trt: 3 x 4 x 2 precision
    assert len(points) == 3 * 4 * 2 * 2 + 3 * 4 * 2
    assert SearchSpace.build({"lr": {"low": 0.1, "high": 1.0}}).enumerate() is None


def test_command_line_sweeps_replace_and_pins_remove():
    fixed, sweeps, pinned = _parse(
        "model=embedded", "backend=trt", "batch=choice(64,128)", "threads=range(1,3)"
    )
    assert fixed == ["model=embedded", "backend=trt"]
    space = SearchSpace.build(GPU_LIKE, sweeps, pinned)
    assert "backend" not in space.keys  # pinned on the command line
    draws = _draws(space, 30)
    assert {d["batch"] for d in draws} == {64, 128}
    assert {d["threads"] for d in draws} == {1, 2}
    assert all(d["precision"] in ("fp16", "int8") for d in draws)  # the trt variant applies
    assert all("backend.inter_op_threads" not in d for d in draws)


def test_overrides_round_trip_through_hydra_grammar():
    assignment = {"precision": "int8", "batch": 16, "backend.x": True, "y": None, "z": "a b"}
    lines = SearchSpace.overrides(assignment)
    assert lines == ["precision=int8", "batch=16", "backend.x=true", "y=null", "z='a b'"]
    parsed = OverridesParser.create().parse_overrides(lines)
    assert [o.value() for o in parsed] == ["int8", 16, True, None, "a b"]
    assert format_value(0.5) == "0.5"


def test_fit_maps_a_config_onto_optuna_names():
    space = SearchSpace.build(GPU_LIKE)
    fitted = space.fit({"backend": "trt", "precision": "fp16", "batch": 32, "threads": 99})
    assert fitted == {"backend": "trt", "precision|backend=trt": "fp16", "batch": 32}


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"batch": {"choices": []}}, "hydra.sweeper.space.batch.choices=[]: expected a non-empty"),
        ({"batch": {"low": 8, "high": 1}}, "hydra.sweeper.space.batch.low=8: expected <= high"),
        ({"batch": {"lo": 1}}, "hydra.sweeper.space.batch='lo': expected keys among"),
        ({"x": {"choices": [1], "when": {"nope": 1}}}, "x.when='nope': expected a key declared"),
        (
            {"b": {"choices": ["onnx"]}, "x": {"choices": [1], "when": {"b": "trt"}}},
            "x.when.b='trt': expected one of ['onnx']",
        ),
        ({"p": [{"choices": [1]}, {"choices": [2]}]}, "expected variants with different `when`"),
        ({"t": {"low": 0, "high": 4, "log": True}}, "t.low=0: expected > 0 with log: true"),
        ({}, "hydra.sweeper.space: expected at least one parameter"),
    ],
)
def test_bad_space_is_one_line_config_error(space, message):
    with pytest.raises(ConfigError) as info:
        SearchSpace.build(space)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_sweep_on_hydra_key_is_rejected():
    with pytest.raises(ConfigError, match="expected a plain key to search over"):
        _parse("+extra=1,2")


@pytest.mark.parametrize("preset", ["cpu_onnx", "cpu", "gpu"])
def test_presets_compose_with_the_sweeper_and_a_valid_space(preset):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from bert_sweep.config import config_dir
    from bert_sweep.config.store import register_configs
    from bert_sweep.search.config import SWEEPER_TARGET, BertOptunaSweeperConf

    register_configs()
    with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="t"):
        cfg = compose("config", overrides=[f"+search={preset}"], return_hydra_config=True)
    sweeper = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)
    assert sweeper["_target_"] == SWEEPER_TARGET and sweeper["study_name"] == preset
    assert str(cfg.hydra.sweep.dir).endswith(f"outputs/search/{preset}")
    settings = BertOptunaSweeperConf(**{k: v for k, v in sweeper.items() if k != "_target_"})
    space = SearchSpace.build(settings.space)
    assert {"backend", "precision", "batch"} <= set(space.keys)
    assert len(space.enumerate()) > 10
    # every (backend, precision) the preset can propose is one the backend declares
    from bert_sweep.backends.registry import by_name

    device = "cuda" if preset == "gpu" else "cpu"
    import dataclasses

    from bert_sweep.backends.registry import BACKENDS, backend_name

    for point in space.enumerate():
        cls = by_name(point["backend"])
        assert point["precision"] in cls.SUPPORTED[device], (preset, point)
        # each backend knob the preset sets there is a field of that backend's config
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in point:
            if key.startswith("backend."):
                assert key.split(".", 1)[1] in fields, (preset, point["backend"], key)
    if preset == "cpu":  # every engine that computes the model on a CPU
        engines = {backend_name(c) for c in BACKENDS if c.COMPUTES_MODEL and "cpu" in c.SUPPORTED}
        assert {p["backend"] for p in space.enumerate()} == engines
    # presets only touch hydra.*: the run config is the same as without the preset
    with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="t"):
        plain = compose("config")
    cfg_no_hydra = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    assert OmegaConf.to_yaml(cfg_no_hydra) == OmegaConf.to_yaml(plain)
