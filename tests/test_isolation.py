"""Out-of-process backends (`backend.isolated=true`): same logits, a native abort is a failed run
with its reason while the sweep goes on, and a killed run leaves no worker behind.

The throwaway `abort` backend is defined here (as in test_backend_plugin.py): zeros as logits, or
`os.abort()` in predict after a line on stderr, or a sleep per batch to keep a run busy. The CLI
runs it through a tiny driver that registers it and calls `bert_sweep.cli.main`, i.e. the real
command, Hydra grid and tracking.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from bert_sweep.backends.base import Backend, BackendInfo, Batch
from bert_sweep.backends.config import BackendConfig
from bert_sweep.backends.onnx.config import OnnxConfig
from bert_sweep.harness.runner import make_backend
from bert_sweep.isolation.backend import IsolatedBackend
from bert_sweep.isolation.client import WorkerError
from bert_sweep.report.record import RunRecord
from tests.conftest import ROOT, SHARED_DATA, requires_shared_data

ABORT_LINE = "abort-test: giving up in predict"


@dataclass
class AbortConfig(BackendConfig):
    _target_: str = "tests.test_isolation.AbortBackend"
    name: str = "abort"
    abort: bool = False
    sleep_s: float = 0.0

    COMPUTES_MODEL: ClassVar[bool] = False
    ENGINE_PACKAGE: ClassVar[str | None] = "numpy"


class AbortBackend(Backend):
    def load(self, model_path: Path) -> None:
        self.model_path = str(model_path)

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        if self.config.abort:
            print(ABORT_LINE, file=sys.stderr, flush=True)
            os.abort()
        if self.config.sleep_s:
            time.sleep(self.config.sleep_s)
        zeros = np.zeros(batch.input_ids.shape, np.float32)
        return zeros, zeros

    def info(self) -> BackendInfo:
        return BackendInfo("abort", self.precision, np.__version__, "", {"pid": os.getpid()})


# `python -c DRIVER args...`: the real CLI with the throwaway backend registered
DRIVER = (
    "import sys; from bert_sweep.backends.registry import register_backend; "
    "from tests.test_isolation import AbortConfig; register_backend(AbortConfig); "
    "from bert_sweep.cli import main; sys.exit(main())"
)


def _batch(rng, b: int, w: int) -> Batch:
    mask = np.ones((b, w), np.int64)
    mask[:, w // 2 :] = rng.integers(0, 2, (b, w - w // 2))
    return Batch(
        rng.integers(0, 1000, (b, w)).astype(np.int64),
        mask,
        rng.integers(0, 2, (b, w)).astype(np.int64),
    )


def test_isolated_onnx_gives_identical_logits(tiny_model, tmp_path):
    model, _ = tiny_model
    config = OnnxConfig(batch_size=8, intra_op_threads=1)
    here = make_backend(config)
    here.load(model)
    away = make_backend(OnnxConfig(batch_size=8, intra_op_threads=1, isolated=True), tmp_path)
    assert isinstance(away, IsolatedBackend)
    away.load(model)
    try:
        rng = np.random.default_rng(0)
        # 40 x 384 exceeds the first shared file (32 x 384): the worker attaches a bigger one
        for b, w in [(1, 17), (8, 176), (3, 384), (40, 384), (2, 5)]:
            batch = _batch(rng, b, w)
            for got, want in zip(away.predict(batch), here.predict(batch), strict=True):
                assert got.dtype == np.float32 and got.shape == (b, w)
                np.testing.assert_array_equal(got, want)
        # two SUT worker threads at once (harness.workers=2): each gets its own batch's answer
        batches = [_batch(rng, 4, 64 + 32 * i) for i in range(6)]
        wanted = [here.predict(b) for b in batches]
        got: dict[int, tuple] = {}

        def run(k: int) -> None:
            for i in range(k, len(batches), 2):
                got[i] = away.predict(batches[i])

        threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, want in enumerate(wanted):
            np.testing.assert_array_equal(got[i][0], want[0])
            np.testing.assert_array_equal(got[i][1], want[1])
        info = away.info()
        assert info.engine_version == here.info().engine_version and info.details["isolated"]
        pid = away.worker.pid
    finally:
        away.close()
    assert not _alive(pid)
    log = (tmp_path / "backend_worker.log").read_text()
    assert f"worker pid {pid}" in log


def test_abort_in_the_worker_is_a_one_line_error(tmp_path):
    backend = make_backend(AbortConfig(abort=True, isolated=True), tmp_path)
    backend.load(Path("unused"))
    pid = backend.worker.pid
    batch = _batch(np.random.default_rng(0), 2, 8)
    with pytest.raises(WorkerError) as err:
        backend.predict(batch)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"backend=abort: worker process {pid} died during predict")
    assert "killed by signal SIGABRT" in message and ABORT_LINE in message
    with pytest.raises(WorkerError, match="died during predict"):  # and stays dead
        backend.predict(batch)
    assert backend.info().name == "abort"  # what the worker said when it loaded
    backend.close()
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def placeholder_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("m") / "unused.onnx"
    path.write_bytes(b"the abort backend never reads its model file")
    return path


def _args(model: Path) -> list[str]:
    return [
        "backend=abort",
        "backend.isolated=true",
        "model=file",
        f"model.file={model}",
        "dataset=squad",
        f"assets.mirror={SHARED_DATA}",
        "profile.max_samples=64",
        "reuse_accuracy=false",
        "assets.progress=false",
    ]


@requires_shared_data()
@pytest.mark.slow
def test_abort_fails_its_job_and_the_grid_and_tracking_go_on(tmp_path, placeholder_model):
    pytest.importorskip("mlflow", reason="tracking needs mlflow")
    from mlflow.tracking import MlflowClient

    sweep, uri = tmp_path / "grid", f"sqlite:///{tmp_path}/store/mlflow.db"
    cmd = [
        sys.executable, "-c", DRIVER, "-m", *_args(placeholder_model),
        "backend.abort=true,false", f"hydra.sweep.dir={sweep}",
        f"hydra.callbacks.tracking.uri={uri}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    aborted, fine = RunRecord.read(sweep / "0"), RunRecord.read(sweep / "1")
    assert fine.status == "ok" and fine.performance.samples_per_second > 0
    assert aborted.status == "failed" and aborted.error_kind == "HarnessError"
    reason = aborted.error
    assert "backend=abort: worker process" in reason and "SIGABRT" in reason, reason
    assert ABORT_LINE in reason and "backend_worker.log" in reason
    log = Path(reason.rsplit("(log ", 1)[1].rstrip(")"))
    assert log.is_file() and ABORT_LINE in log.read_text() and log.is_relative_to(sweep / "0")

    c = MlflowClient(uri)
    exp = c.get_experiment_by_name(f"sweep {sweep.name}")
    jobs = {
        r.data.params["backend.abort"].lower(): r
        for r in c.search_runs([exp.experiment_id])
        if r.data.tags.get("bert_sweep.role") == "job"
    }
    assert jobs["true"].info.status == "FAILED" and "SIGABRT" in jobs["true"].data.tags["error"]
    assert jobs["false"].info.status == "FINISHED"


def _worker_pid(log: Path, cli: subprocess.Popen, deadline_s: float = 180) -> int:
    """The worker's pid from the first line of its log, once it is there."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and cli.poll() is None:
        if log.is_file():
            first = log.read_text().partition("\n")[0]
            if first.startswith("bert_sweep worker pid "):
                return int(first.split()[3])
        time.sleep(0.2)
    raise AssertionError(f"no worker started ({log}); cli exit {cli.poll()}")


@requires_shared_data()
@pytest.mark.slow
@pytest.mark.parametrize("victim", ["loadgen child", "run process"])
def test_a_killed_run_leaves_no_worker(tmp_path, placeholder_model, victim):
    import psutil

    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-c", DRIVER, *_args(placeholder_model), "backend.sleep_s=0.5",
        "batch=1", "tracking=none", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    cli = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid = _worker_pid(run_dir / "accuracy" / "backend_worker.log", cli)
        worker = psutil.Process(pid)
        loadgen = worker.parent()
        assert loadgen.parent().pid == cli.pid  # run -> loadgen child -> worker
        os.kill(loadgen.pid if victim == "loadgen child" else cli.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs([worker], timeout=20)
        assert not alive, f"worker {pid} outlived the {victim}"
        if victim == "loadgen child":  # the run itself goes on to record the failure
            assert cli.wait(120) != 0
            record = json.loads((run_dir / "results.json").read_text())
            assert record["status"] == "failed" and "died without a result" in record["error"]
        else:
            cli.wait(30)
            _, alive = psutil.wait_procs([loadgen], timeout=20)
            assert not alive
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
