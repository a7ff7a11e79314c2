"""backend=deepsparse: its own venv (created on demand here, as on a user's first run), logits that
match onnxruntime fp32, a source model never rewritten, and one-line refusals up front.

The venv is `<cache_dir>/envs/deepsparse-1.8.0` of the default cache (shared with users' runs);
the session fixture creates it when absent (about a minute with PyPI reachable). The tests of a
half-built or offline creation use a cache of their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bert_sweep.backends.base import Batch
from bert_sweep.backends.deepsparse import env as dsenv
from bert_sweep.backends.deepsparse.backend import DeepsparseBackend
from bert_sweep.backends.deepsparse.config import DeepsparseConfig
from bert_sweep.backends.onnx.config import OnnxConfig
from bert_sweep.errors import AssetError, BackendUnavailableError, ConfigError
from bert_sweep.harness.runner import make_backend
from bert_sweep.report.record import RunRecord
from tests.conftest import DEFAULT_CACHE, ROOT

# deepsparse vs onnxruntime fp32 on real positions: measured 1.5e-5 on the embedded model
LOGIT_TOL = 1e-4


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def ds_env() -> Path:
    """The default cache's deepsparse venv, created now when it is not there."""
    try:
        python, marker = dsenv.ensure_env(DEFAULT_CACHE, progress=True)
    except BackendUnavailableError as exc:
        pytest.skip(f"cannot create the deepsparse venv here: {exc}")
    assert marker["versions"]["deepsparse"] == dsenv.VERSION
    return python


# -- config and refusals (no venv needed) --------------------------------------------------------
def test_it_composes_with_its_knobs_and_refuses_what_it_cannot_do(compose):
    _, cfg = compose(["backend=deepsparse", "threads=2", "batch=8"])
    b = cfg.backend
    assert isinstance(b, DeepsparseConfig) and b.isolated
    assert (b.num_cores, b.batch_size, b.precision) == (2, 8, "fp32")
    assert b.cache_dir == cfg.assets.cache_dir
    with pytest.raises(ConfigError, match=r"^backend=deepsparse precision=int8 device=cpu"):
        compose(["backend=deepsparse", "precision=int8"])
    with pytest.raises(ConfigError, match=r"^backend.isolated=False: expected true"):
        compose(["backend=deepsparse", "backend.isolated=false"])
    with pytest.raises(ConfigError, match=r"^backend.scheduler='fast': expected one of"):
        compose(["backend=deepsparse", "backend.scheduler=fast"])
    with pytest.raises(ConfigError, match=r"^backend.width_buckets=\[0\]: expected"):
        compose(["backend=deepsparse", "backend.width_buckets=[0]"])


def test_models_it_would_abort_on_are_refused_before_the_venv(tiny_model, tmp_path):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model, _ = tiny_model
    backend = DeepsparseBackend(DeepsparseConfig(cache_dir=str(tmp_path / "no-env-here")))
    ir10 = tmp_path / "ir10.onnx"
    m = onnx.load(str(model))
    m.ir_version = 10
    onnx.save(m, str(ir10))
    with pytest.raises(AssetError, match=r"ONNX IR version 10: backend=deepsparse expected IR"):
        backend.prepare(ir10, tmp_path)
    int8 = tmp_path / "int8.onnx"
    quantize_dynamic(model, int8, weight_type=QuantType.QInt8)
    with pytest.raises(AssetError, match=r"dynamic-int8 ops \(.*MatMulInteger.*\)") as err:
        backend.prepare(int8, tmp_path)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "no-env-here").exists()  # refused before anything was created


# -- the venv --------------------------------------------------------------------------------------
def test_offline_creation_fails_in_one_line_and_leaves_no_ready_env(tmp_path):
    with pytest.raises(BackendUnavailableError) as err:
        dsenv.ensure_env(tmp_path, offline=True, progress=False)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("backend=deepsparse: pip could not install deepsparse==1.8.0")
    assert "assets.offline=true" in message
    assert dsenv.read_marker(dsenv.env_dir(tmp_path)) is None


def test_broken_env_is_one_line_naming_the_folder_and_the_fix(tiny_model, tmp_path):
    env = dsenv.env_dir(tmp_path)
    env.parent.mkdir(parents=True)
    base = dsenv.base_python()
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(env)], check=True)
    (env / dsenv.MARKER).write_text(json.dumps({"versions": {"deepsparse": "1.8.0"}}))
    backend = make_backend(DeepsparseConfig(cache_dir=str(tmp_path)), tmp_path / "logs")
    with pytest.raises(BackendUnavailableError) as err:
        backend.load(tiny_model[0])
    message = str(err.value)
    assert "\n" not in message and f"the environment {env} is broken" in message
    assert "ModuleNotFoundError" in message and "--rebuild" in message


@pytest.mark.slow
def test_interrupted_creation_is_rebuilt_not_reused(tmp_path):
    cmd = [sys.executable, "-m", "bert_sweep.backends.deepsparse.env", "--cache-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # kill it while pip installs
        if "installing deepsparse" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(60)
    proc.stderr.close()
    env = dsenv.env_dir(tmp_path)
    assert env.is_dir() and dsenv.read_marker(env) is None  # half-built
    with pytest.raises(BackendUnavailableError, match="no ready environment"):
        dsenv.ready_env(tmp_path)
    python, marker = dsenv.ensure_env(tmp_path, progress=False)
    assert marker["versions"]["deepsparse"] == "1.8.0" and python.is_file()
    assert dsenv.ready_env(tmp_path)[1] == marker


# -- the engine ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_logits_match_onnxruntime_fp32_and_the_model_is_never_rewritten(ds_env, embedded, tmp_path):
    model = embedded.model_path
    before = sha256(model)
    reference = make_backend(OnnxConfig(intra_op_threads=2))
    reference.load(model)
    config = DeepsparseConfig(batch_size=8, num_cores=2, width_buckets=[64, 192, 384])
    backend = make_backend(config, tmp_path)
    assert backend.prepare(model, DEFAULT_CACHE) == model
    backend.load(model)
    try:
        rng = np.random.default_rng(0)
        for b, w in [(8, 64), (3, 100), (8, 176), (1, 384), (8, 401)]:  # short, padded, over
            lengths = rng.integers(w // 2, w + 1, b)
            mask = (np.arange(w)[None, :] < lengths[:, None]).astype(np.int64)
            ids = rng.integers(1000, 30000, (b, w)) * mask
            batch = Batch(ids, mask, np.zeros((b, w), np.int64))
            real = mask.astype(bool)
            got, want = backend.predict(batch), reference.predict(batch)
            for g, r in zip(got, want, strict=True):
                assert g.shape == (b, w) and g.dtype == np.float32
                assert np.abs(g - r)[real].max() < LOGIT_TOL, (b, w)
        info = backend.info()
        compiled = info.details["compile_s"]
        assert {"8x64", "8x192", "8x384"} <= set(compiled)  # precompiled at load
        assert "8x401" in compiled  # a width above the last bucket gets its own engine
        assert info.engine_version == "1.8.0"
    finally:
        backend.close()
    assert sha256(model) == before


@pytest.mark.slow
def test_embedded_model_through_loadgen(ds_env, embedded, run_cli, tmp_path):
    before = sha256(embedded.model_path)
    run_dir = tmp_path / "run"
    proc = run_cli(
        "backend=deepsparse", "profile=test", "threads=2", "batch=8", "tracking=none",
        "harness.trim_padding=true", "reuse_accuracy=false", run_dir=run_dir, timeout=1200,
    )  # fmt: skip
    r = RunRecord.read(run_dir)
    assert r.status == "ok", (r.error, proc.stderr[-3000:])
    assert r.backend == "deepsparse" and r.packages["deepsparse"] == "1.8.0"
    assert r.backend_info["engine_version"] == "1.8.0"
    assert r.performance.samples_per_second > 0 and r.performance.validity == "VALID"
    # same numerics as onnxruntime fp32 within LOGIT_TOL: the F1 agrees closely
    assert r.accuracy.meaningful and r.accuracy.ratio == pytest.approx(1.0, abs=0.01)
    assert (run_dir / "performance" / "backend_worker.log").is_file()
    assert sha256(embedded.model_path) == before


def test_model_copies_of_a_killed_worker_are_removed_by_the_next_one(tmp_path, monkeypatch):
    """A worker killed mid-compile leaves its private model copy; the next load removes the
    copies of workers that are gone and keeps those of live ones."""
    import subprocess
    import sys
    import tempfile

    from bert_sweep.backends.deepsparse import engine

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"{engine.SCRATCH_PREFIX}{gone.pid}-abc"
    alive = tmp_path / f"{engine.SCRATCH_PREFIX}{os.getpid()}-def"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"copy")
    engine._remove_stale_scratch()
    assert not dead.exists()
    assert (alive / "model.onnx").is_file()
