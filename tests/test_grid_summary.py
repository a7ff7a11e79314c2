"""Hydra grid sweep (`-m`) ends with a table of every job; a backend that cannot run fails alone."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bert_sweep.report.record import RunRecord
from bert_sweep.search.grid import collect_jobs
from tests.conftest import ROOT, SHARED_DATA, requires_shared_data


@requires_shared_data()
@pytest.mark.slow
def test_grid_with_unavailable_backend_finishes_with_a_table(tmp_path):
    model = tmp_path / "unused.onnx"
    model.write_bytes(b"the noop backend never reads its model file")
    sweep = tmp_path / "grid"
    cmd = [
        sys.executable, "-m", "bert_sweep", "-m", "backend=trt,noop", "batch=32,64",
        "model=file", f"model.file={model}", "dataset=squad", f"assets.mirror={SHARED_DATA}",
        # device=cuda: trt refuses cpu at composition; on cuda it fails for want of tensorrt
        "device=cuda", "tracking=none", "assets.progress=false", f"hydra.sweep.dir={sweep}",
        # the grid table callback (conf/hydra/callbacks/grid_summary.yaml)
        "hydra/callbacks=grid_summary",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]

    rows = json.loads((sweep / "summary.json").read_text())["rows"]
    assert [r["params"] for r in rows] == [
        "backend=trt batch=32", "backend=trt batch=64",
        "backend=noop batch=32", "backend=noop batch=64",
    ]  # fmt: skip
    assert [r["status"] for r in rows] == ["failed", "failed", "ok", "ok"]
    for job, row in enumerate(rows):
        results = RunRecord.read(sweep / str(job))
        assert row["verdict"] == results.verdict.verdict
        if row["status"] == "failed":  # tensorrt is not installable here (REFERENCE.md §4)
            assert results.error_kind == "BackendUnavailableError"
            assert "pypi.nvidia.com" in row["note"] == results.error
        else:
            assert row["samples_per_second"] == results.performance.samples_per_second > 0
            assert row["validity"] == results.performance.validity
    with open(sweep / "summary.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 4
    table = (sweep / "summary.md").read_text()
    assert table.count("\n| ") == 5  # header + 4 jobs
    assert "bert_sweep grid: 4 jobs, 2 ran, 0 PASS" in proc.stdout
    assert "| backend=trt batch=64" in proc.stdout

    # only the jobs of this sweep are listed when the folder is reused later
    assert collect_jobs(sweep, since=time.time() + 5) == []
    assert len(collect_jobs(Path(sweep))) == 4
