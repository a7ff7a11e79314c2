"""A real browser on the MLflow UI: a grid sweep's runs and their samples/s appear on the page.

Runs a small noop grid sweep into a fresh store, starts `mlflow ui` bound to 127.0.0.1 on a free
port (bert_sweep.tracking.ui.serve), and loads the experiment's runs page and the compare page of
the sweep's jobs in headless Chromium (Debian's `chromium`, no driver: `--dump-dom` gives the
rendered page, `--screenshot` the picture, saved as mlflow_ui_*.png in the test's tmp folder).
Every process the test starts is in a process group of its own, stopped and checked gone.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED_DATA, requires_shared_data

pytest.importorskip("mlflow", reason="tracking needs the `tracking` (or `dev`) extra: mlflow")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    requires_shared_data(),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="needs headless Chromium: apt-get install -y chromium (Debian package)",
    ),
]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1600,1000",
    # virtual time lets the single-page app fetch and render before the DOM is dumped
    "--virtual-time-budget=20000",
]


def live_members(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies excepted)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def render(url: str, profile_dir: Path, screenshot: Path, groups: list[int]) -> str:
    """The page's text after its scripts ran, and a screenshot; Chromium stopped as a group."""
    cmd = [
        CHROMIUM,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile_dir}",
        f"--screenshot={screenshot}",
        "--dump-dom",
        url,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    groups.append(proc.pid)
    try:
        dom, _ = proc.communicate(timeout=180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", dom, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def as_mlflow_shows(value: float) -> str:
    """A metric as the MLflow UI prints it (Utils.formatMetric of MLflow 3's web app)."""

    def js_round(x: float, scale: int) -> float:
        return math.floor(x * scale + 0.5) / scale

    if value == 0:
        return "0"
    if abs(value) < 1e-3:
        return f"{value:.3e}"
    rounded = js_round(value, 1000 if abs(value) < 10 else 100 if abs(value) < 100 else 10)
    return str(int(rounded)) if rounded == int(rounded) else repr(rounded)


def test_sweep_runs_and_samples_per_second_show_in_the_mlflow_ui(tmp_path):
    from mlflow.tracking import MlflowClient

    from bert_sweep.tracking.ui import serve

    model = tmp_path / "unused.onnx"
    model.write_bytes(b"the noop backend never reads its model file")
    uri, sweep_dir = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}", tmp_path / "sweep"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bert_sweep",
            "-m",
            "backend=noop",
            "profile=quick",
            "model=file",
            f"model.file={model}",
            "dataset=squad",
            f"assets.mirror={SHARED_DATA}",
            "batch=8,32",
            f"hydra.sweep.dir={sweep_dir}",
            f"hydra.callbacks.tracking.uri={uri}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(f"sweep {sweep_dir.name}")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags["bert_sweep.role"] == "sweep"]
    jobs = [r for r in runs if r.data.tags["bert_sweep.role"] == "job"]
    assert len(jobs) == 2
    # What the page must show for each job: its name and its samples/s from results.json.
    expected = {}
    for job in jobs:
        results = json.loads(
            (Path(job.data.tags["bert_sweep.job_dir"]) / "results.json").read_text()
        )
        expected[job.info.run_name] = as_mlflow_shows(results["performance"]["samples_per_second"])

    groups: list[int] = []
    runs_png, compare_png = tmp_path / "mlflow_ui_runs.png", tmp_path / "mlflow_ui_compare.png"
    with serve(uri, log_file=tmp_path / "mlflow_ui.log") as ui:
        groups.append(ui.pgid)
        base = f"{ui.url}/#/experiments/{experiment.experiment_id}"
        runs_page = render(f"{base}/runs", tmp_path / "chromium-1", runs_png, groups)
        ids = json.dumps([j.info.run_id for j in jobs], separators=(",", ":"))
        compare_url = (
            f'{ui.url}/#/compare-runs?runs={ids}&experiments=["{experiment.experiment_id}"]'
        )
        compare_page = render(compare_url, tmp_path / "chromium-2", compare_png, groups)

    print(f"screenshots: {runs_png} {compare_png}")
    assert experiment.name in runs_page and parent.info.run_name in runs_page
    assert "samples_per_second" in compare_page
    for name, shown in expected.items():
        assert name in compare_page, f"run {name!r} not on the compare page"
        assert shown in compare_page.split(), f"samples/s {shown} of {name!r} not on the page"
    for png in (runs_png, compare_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    for pgid in groups:
        assert not live_members(pgid), f"process group {pgid} still has {live_members(pgid)}"
