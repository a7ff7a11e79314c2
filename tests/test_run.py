"""End-to-end runs through `python -m bert_sweep`: real loadgen, both modes, every scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, requires_shared_data

NOOP = ["backend=noop", "tracking=none"]


@pytest.fixture(scope="module")
def placeholder_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("m") / "unused.onnx"
    path.write_bytes(b"the noop backend never reads its model file")
    return path


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@requires_shared_data()
@pytest.mark.parametrize("scenario", ["offline", "server", "singlestream", "multistream"])
def test_noop_run_every_scenario_both_modes(run_cli, tmp_path, placeholder_model, scenario):
    run_dir = tmp_path / "run"
    proc = run_cli(*NOOP, "model=file", f"model.file={placeholder_model}", "dataset=squad",
                   f"assets.mirror={SHARED_DATA}", f"scenario={scenario}",
                   "profile.max_samples=64", "reuse_accuracy=false", run_dir=run_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = _results(run_dir)
    assert r["status"] == "ok" and r["scenario"].lower() == scenario
    perf, acc = r["performance"], r["accuracy"]
    assert perf["samples_per_second"] > 0 and perf["validity"] in ("VALID", "INVALID")
    assert perf["latency_ns"]["p99"] >= perf["latency_ns"]["p50"] > 0
    assert all(v for v in perf["seeds"].values())  # mlperf.conf applied in the fresh process
    assert acc["n_samples"] == 64 and acc["meaningful"] is False and acc["reused"] is False
    assert r["verdict"]["accuracy"] == "N/A"
    for mode in ("accuracy", "performance"):
        folder = run_dir / mode
        for name in ("user.conf", "mlperf_log_summary.txt", "mlperf_log_detail.txt",
                     "mlperf_log_accuracy.json"):
            assert (folder / name).is_file(), folder / name
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert "verdict" in proc.stdout and str(run_dir) in proc.stdout
