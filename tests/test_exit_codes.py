"""Exit codes of `python -m bert_sweep`, decided in one place (bert_sweep/cli.py::main):
0 PASS / performance-only / finished sweep, 3 a completed run whose verdict is FAIL, 2 bad input,
1 an internal crash, 130 Ctrl-C or SIGTERM (one line, no traceback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from tests.conftest import ROOT, SHARED_DATA, requires_shared_data
from tests.test_process_signals import (
    noop_args,
    placeholder_model,  # noqa: F401 (fixture)
    survivors_after,
    wait_for_performance_test,
)

pytestmark = requires_shared_data()


def test_completed_run_with_a_fail_verdict_exits_3(run_cli, tmp_path, placeholder_model):  # noqa: F811
    """An Offline query sized for 1 sample/s over 10 minutes (600 samples) ends long before its
    minimum duration on any machine (noop computes nothing), so loadgen calls the run INVALID:
    the run completes, its verdict is FAIL, and that is neither success (0) nor a crash (1)."""
    run_dir = tmp_path / "run"
    proc = run_cli(
        "backend=noop",
        "tracking=none",
        "model=file",
        f"model.file={placeholder_model}",
        "dataset=squad",
        f"assets.mirror={SHARED_DATA}",
        "profile.max_samples=64",
        "scenario.target_qps=1",
        "profile.min_duration_ms=600000",
        run_dir=run_dir,
        timeout=600,
    )
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "ok", proc.stderr[-2000:]
    assert record["performance"]["validity"] == "INVALID"
    assert record["verdict"]["verdict"] == "FAIL"
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_ctrl_c_exits_130_with_one_line(tmp_path, placeholder_model):  # noqa: F811
    """Ctrl-C in a terminal reaches the whole process group (the command and its loadgen child)."""
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "bert_sweep",
        *noop_args(placeholder_model),
        "tracking=none",
        f"hydra.run.dir={run_dir}",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # a terminal's Ctrl-C: SIGINT at its default even where the tests run as a background
        # job (a non-interactive shell starts those with SIGINT ignored, inherited by the CLI)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    procs = wait_for_performance_test(proc, run_dir / "performance")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip() and "it/s]" not in line]
    assert lines[-1].startswith("bert_sweep: interrupted by Ctrl-C"), err[-2000:]
    assert not survivors_after(procs, 5)
    record = json.loads((run_dir / "results.json").read_text())
    assert record["error_kind"] == "interrupted"
