"""Nothing empty or half-written left behind by a command that stops early."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bert_sweep.tracking.settings import TrackingSettings
from tests.conftest import ROOT, requires_shared_data
from tests.test_submission_command import submit_cli, tiny_model_run  # noqa: F401 (fixture)


def _one_line(proc: subprocess.CompletedProcess, prefix: str = "bert_sweep: error: ") -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith(prefix) and "Traceback" not in proc.stderr
    return lines[0]


def test_bad_storage_url_leaves_no_sweep_folder(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        "-m",
        "bert_sweep",
        "-m",
        "+search=cpu_onnx",
        "backend=noop",
        "tracking=none",
        "hydra.sweeper.storage=bogus://nowhere/db",
        f"hydra.sweep.dir={sweep}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "hydra.sweeper.storage=bogus://nowhere/db" in _one_line(proc)
    assert not sweep.exists(), sorted(p.name for p in sweep.iterdir())


@requires_shared_data()
def test_refused_submission_leaves_no_empty_output_folder(tiny_model_run, tmp_path):  # noqa: F811
    run_dir, _ = tiny_model_run
    out = tmp_path / "new" / "submission"
    done = submit_cli(f"candidate.run_dir={run_dir}", "rerun=false", f"output_dir={out}")
    assert "cannot be packaged" in _one_line(done, "bert_sweep.submit: error: ")
    assert not out.exists()


def test_tracking_server_lock_is_never_in_a_run_dir():
    """A run killed while its tracking server does not answer must not leave a run dir that
    holds only the tracking lock: the lock for a server lives in the temp folder."""
    settings = TrackingSettings(uri="http://127.0.0.1:9")
    assert settings.lock_file() == TrackingSettings(uri="http://127.0.0.1:9").lock_file()
    assert settings.lock_file() != TrackingSettings(uri="http://other:5000").lock_file()
    assert settings.lock_file().parent == Path(tempfile.gettempdir())
