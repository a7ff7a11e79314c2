"""Shared fixtures: the real data folder, the asset cache, config composition, and the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data next to the checkout holds the real SQuAD v1.1 dev set and the BERT vocab; tests
# reach them through the asset mirror option, the same path a user with a local copy would use.
SHARED_DATA = ROOT.parent / "shared" / "data"
# The cache a user gets by default (conf/assets/default.yaml): the embedded model is built once.
DEFAULT_CACHE = Path.home() / ".cache" / "bert_sweep"


def requires_shared_data():
    return pytest.mark.skipif(
        not (SHARED_DATA / "squad-v1.1-dev.json").is_file(),
        reason=f"needs the real SQuAD v1.1 dev set in {SHARED_DATA}",
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "squad-v1.1-dev.json").is_file():
        pytest.skip(f"needs the real SQuAD v1.1 dev set in {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    DEFAULT_CACHE.mkdir(parents=True, exist_ok=True)
    return DEFAULT_CACHE


@pytest.fixture(scope="session")
def embedded(cache_dir):
    """The embedded model and synthetic dataset (built on first use, ~9-12 min on 2 cores)."""
    from bert_sweep.embedded.build import build_embedded

    return build_embedded(cache_dir, progress=False)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    """(model, cache): a 2-layer, hidden-64 BERT QA ONNX with random weights and the MLPerf
    signature, built in a cache of its own per test module (seconds)."""
    from bert_sweep.assets.random_model import build_random_model
    from bert_sweep.config.schema import ModelConfig

    cfg = ModelConfig(
        name="tiny",
        source="random",
        num_layers=2,
        hidden_size=64,
        num_heads=4,
        intermediate_size=128,
        accuracy_meaningful=False,
        packageable=False,
    )
    cache = tmp_path_factory.mktemp("cache")
    return build_random_model(cfg, cache, progress=False), cache


@pytest.fixture
def compose() -> Callable:
    """Compose the real conf/ as the CLI does (bert_sweep.config.compose) and validate it."""
    from bert_sweep.config.compose import compose_run_config

    def _compose(overrides: list[str] | None = None, output_dir: str = "."):
        return compose_run_config(list(overrides or []), output_dir, job_name="test")

    return _compose


@pytest.fixture
def run_cli(tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `python -m bert_sweep` in a subprocess with its run dir under tmp_path."""

    def _run(*args: str, run_dir: Path | None = None, timeout: float = 900):
        run_dir = run_dir or tmp_path / "run"
        cmd = [sys.executable, "-m", "bert_sweep", f"hydra.run.dir={run_dir}", *args]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    return _run
