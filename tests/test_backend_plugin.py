"""Adding a backend takes one config dataclass and one implementation class, here in this file.

The throwaway `echo` backend is registered through the public registry function, composed with
Hydra's Compose API (`backend=echo`, no YAML file), run by the real Pipeline under the real
loadgen (its config is pickled into the spawned loadgen process, which imports this module as
`tests.test_backend_plugin`), and then found in the run record, the tracking tags, a written
submission tree's systems JSON (`framework`) and measurements.json, with no edit anywhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from bert_sweep.backends.base import Backend, BackendInfo, Batch
from bert_sweep.backends.config import BackendConfig
from bert_sweep.errors import ConfigError, field_error
from tests.conftest import SHARED_DATA, requires_shared_data

ECHO_ENGINE = "psutil"  # an installed package that no built-in backend names


@dataclass
class EchoConfig(BackendConfig):
    """Start logits = the token ids scaled (a deterministic function of the inputs)."""

    _target_: str = "tests.test_backend_plugin.EchoBackend"
    name: str = "echo"
    scale: float = 1e-4

    SUPPORTED: ClassVar[dict[str, tuple[str, ...]]] = {"cpu": ("fp32", "bf16")}
    ENGINE_PACKAGE: ClassVar[str | None] = ECHO_ENGINE
    COMPUTES_MODEL: ClassVar[bool] = False  # its logits are not a model's

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scale <= 0:
            raise field_error("backend.scale", self.scale, "a number > 0")

    def numerics_key(self) -> dict:
        return super().numerics_key() | {"scale": self.scale}

    def weight_transformations(self, model: dict[str, Any]) -> str | None:
        return f"echo: weights unused, logits = token ids x {self.scale:g}"


class EchoBackend(Backend):
    def __init__(self, config: EchoConfig) -> None:
        super().__init__(config)
        self.model_path = ""
        self.calls = 0

    def load(self, model_path: Path) -> None:
        self.model_path = str(model_path)

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        start = batch.input_ids.astype(np.float32) * self.config.scale
        return start, -start

    def info(self) -> BackendInfo:
        version = metadata.version(ECHO_ENGINE)
        return BackendInfo("echo", self.precision, version, self.model_path, {"calls": self.calls})


@pytest.fixture
def echo_registered():
    from bert_sweep.backends import registry

    before = list(registry.BACKENDS)
    registry.register_backend(EchoConfig)
    yield
    registry.BACKENDS[:] = before


def test_it_composes_and_validates_from_its_own_class(echo_registered, compose):
    _, cfg = compose(["backend=echo", "precision=bf16", "batch=8", "backend.scale=0.5"])
    assert isinstance(cfg.backend, EchoConfig)
    assert (cfg.backend.precision, cfg.backend.batch_size, cfg.backend.scale) == ("bf16", 8, 0.5)
    with pytest.raises(ConfigError, match=r"^backend=echo precision=int8 device=cpu: expected"):
        compose(["backend=echo", "precision=int8"])
    with pytest.raises(ConfigError, match=r"^backend.scale=-1.0: expected a number > 0"):
        compose(["backend=echo", "backend.scale=-1"])


def test_unregistered_backend_is_not_an_option(compose):
    with pytest.raises(ConfigError, match="backend=echo"):
        compose(["backend=echo"])


@pytest.mark.slow
@requires_shared_data()
def test_it_runs_under_loadgen_and_reaches_tracking_and_packages(
    echo_registered, compose, tiny_model, tmp_path
):
    from bert_sweep.pipeline import Pipeline
    from bert_sweep.submission.describe import default_measurements
    from bert_sweep.submission.system_desc import describe_system
    from bert_sweep.submission.tree import TreeSpec, write_tree
    from bert_sweep.submission.versions import VERSIONS
    from bert_sweep.tracking.record import tags_from_results

    run_dir = tmp_path / "run"
    _, cfg = compose(
        [
            "backend=echo",
            "model=file",
            f"model.file={tiny_model[0]}",
            "dataset=squad",
            f"assets.mirror={SHARED_DATA}",
            "profile.max_samples=32",
            "reuse_accuracy=false",  # this run's own accuracy test, not a cached figure
            "assets.progress=false",
        ],
        output_dir=str(run_dir),
    )
    record = Pipeline(cfg, run_dir).run()

    version = metadata.version(ECHO_ENGINE)
    assert record.ok and record.backend == "echo"
    assert record.backend_info["engine_version"] == version
    assert record.packages[ECHO_ENGINE] == version  # recorded because the backend names it
    assert record.performance.samples_per_second > 0 and record.performance.samples_issued > 0
    assert not record.accuracy.meaningful  # COMPUTES_MODEL = False is honoured
    detail = json.loads((run_dir / "accuracy" / "mlperf_log_accuracy.json").read_text())
    assert len(detail) == 32  # loadgen really asked this backend for every sample

    tags = tags_from_results(record)
    assert tags["backend"] == "echo" and tags["framework"] == f"{ECHO_ENGINE} {version}"
    assert tags[f"pkg.{ECHO_ENGINE}"] == version

    system = describe_system(
        record,
        division="open",
        submitter="TestOrg",
        system_name="test box",
        system_type="edge",
        status="available",
        storage_path=run_dir,
    )
    spec = TreeSpec(
        version=VERSIONS["v6.1"],
        division="open",
        submitter="TestOrg",
        system_id="test_box",
        benchmark="bert-99",
        scenario="Offline",
        accuracy_dir=run_dir / "accuracy",
        performance_dir=run_dir / "performance",
        exact_match=record.accuracy.exact_match,
        f1=record.accuracy.f1,
        system_json=system,
        measurements=default_measurements(record.config),
        results_readme="# result\n",
        code_readme="# code\n",
    )
    tree = write_tree(spec, tmp_path / "submission")
    systems = json.loads((tree.root / "open/TestOrg/systems/test_box.json").read_text())
    assert systems["framework"] == f"{ECHO_ENGINE} {version}"
    measurements = json.loads((tree.scenario_dir / "measurements.json").read_text())
    assert (
        measurements["weight_transformations"]
        == "echo: weights unused, logits = token ids x 0.0001"
    )
