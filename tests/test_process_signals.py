"""Processes that die with their parent, and SIGTERM handled like Ctrl-C.

Each test starts `python -m bert_sweep` with the noop backend and a performance test that cannot
end on its own within the test (`profile.min_duration_ms=600000`: loadgen runs at least that
long, however fast the machine), waits until the loadgen child of the performance test exists,
then kills or terminates the command and looks at the whole process tree (psutil) and at what
was recorded (results.json, a real MLflow sqlite store, a real Optuna storage).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT, SHARED_DATA, requires_shared_data

pytestmark = requires_shared_data()

START_TIMEOUT_S = 300  # featurization on a cold cache, then the accuracy test
GONE_TIMEOUT_S = 5


@pytest.fixture(scope="module")
def placeholder_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "unused.onnx"
    path.write_bytes(b"the noop backend never reads its model file")
    return path


def noop_args(model: Path) -> list[str]:
    return [
        "backend=noop",
        "model=file",
        f"model.file={model}",
        "dataset=squad",
        f"assets.mirror={SHARED_DATA}",
        "profile.max_samples=64",
        "profile.min_duration_ms=600000",  # the performance test outlasts the test
        "reuse_accuracy=false",
    ]


def start(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bert_sweep", *args]
    return subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def tree(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def wait_for_performance_test(proc: subprocess.Popen, perf_dir: Path) -> list[psutil.Process]:
    """The process tree once the performance test's loadgen child runs (user.conf written)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"ended early with {proc.returncode}:\n{out[-2000:]}\n{err[-2000:]}")
        procs = tree(proc)
        if (perf_dir / "user.conf").is_file() and len(procs) > 1:
            return procs
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the performance test did not start in time")


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def survivors_after(procs: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(procs)


def test_sigkill_mid_test_leaves_no_process_behind(tmp_path, placeholder_model):
    run_dir = tmp_path / "run"
    proc = start(*noop_args(placeholder_model), "tracking=none", f"hydra.run.dir={run_dir}")
    procs = wait_for_performance_test(proc, run_dir / "performance")
    children = procs[1:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    left = survivors_after(children, GONE_TIMEOUT_S)
    for p in left:  # do not leave them to burn CPU for the rest of the suite
        p.kill()
    assert not left, [(p.pid, p.cmdline()) for p in left]


def test_sigterm_stops_children_marks_the_mlflow_run_killed_and_exits_130(
    tmp_path, placeholder_model
):
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = start(
        *noop_args(placeholder_model),
        f"hydra.callbacks.tracking.uri={uri}",
        f"hydra.run.dir={run_dir}",
    )
    procs = wait_for_performance_test(proc, run_dir / "performance")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip() and "it/s]" not in line]
    assert lines[-1].startswith("bert_sweep: interrupted by SIGTERM"), err[-2000:]
    assert not survivors_after(procs, GONE_TIMEOUT_S)

    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "failed" and record["error_kind"] == "interrupted"
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("runs")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "KILLED"
    assert "SIGTERM" in run.data.tags.get("error", "")


def test_sigterm_fails_the_optuna_trial_with_the_reason(tmp_path, placeholder_model):
    import optuna

    sweep = tmp_path / "sweep"
    proc = start(
        "-m",
        "+search=cpu_onnx",
        *noop_args(placeholder_model),
        "tracking=none",
        "precision=fp32",
        "threads=0",
        "batch=32",
        "harness.trim_padding=false",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.plots=false",
        f"hydra.sweep.dir={sweep}",
    )
    procs = wait_for_performance_test(proc, sweep / "0" / "performance")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert not survivors_after(procs, GONE_TIMEOUT_S)
    (study,) = optuna.get_all_study_summaries(f"sqlite:///{sweep}/optuna.db")
    (trial,) = optuna.load_study(
        study_name=study.study_name, storage=f"sqlite:///{sweep}/optuna.db"
    ).get_trials()
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["outcome"] == "interrupted"
    assert trial.user_attrs["error"] == "interrupted by SIGTERM"


def test_a_child_whose_parent_already_died_exits_at_once():
    """The race PR_SET_PDEATHSIG leaves open: the parent died before the child asked for the
    signal. The child compares its parent with the pid that started it and exits."""
    code = (
        "import multiprocessing as mp\n"
        "from bert_sweep.harness.runner import _die_with_parent\n"
        "r, w = mp.Pipe(duplex=False)\n"
        "_die_with_parent(1, r)  # pid 1 is not our parent: as if ours had died\n"
        "print('survived')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")
