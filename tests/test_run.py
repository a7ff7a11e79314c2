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
    proc = run_cli(
        *NOOP,
        "model=file",
        f"model.file={placeholder_model}",
        "dataset=squad",
        f"assets.mirror={SHARED_DATA}",
        f"scenario={scenario}",
        "profile.max_samples=64",
        "reuse_accuracy=false",
        run_dir=run_dir,
    )
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
        for name in (
            "user.conf",
            "mlperf_log_summary.txt",
            "mlperf_log_detail.txt",
            "mlperf_log_accuracy.json",
        ):
            assert (folder / name).is_file(), folder / name
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert "verdict" in proc.stdout and str(run_dir) in proc.stdout


# -- the embedded model: real accuracy through loadgen -------------------------------------------
EMBEDDED = ["tracking=none", "harness.trim_padding=true"]


@pytest.mark.slow
def test_default_run_measures_accuracy_and_performance(run_cli, tmp_path, embedded):
    run_dir = tmp_path / "fp32"
    proc = run_cli(*EMBEDDED, "reuse_accuracy=false", run_dir=run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = _results(run_dir)
    acc, perf = r["accuracy"], r["performance"]
    assert r["model"] == "embedded" and r["dataset"] == "synthetic" and r["backend"] == "onnx"
    assert acc["meaningful"] and not acc["reused"] and acc["n_samples"] == 256
    assert acc["f1"] >= 60.0  # a real QA model, not random weights
    assert acc["reference_source"].startswith("this run")  # fp32 onnxruntime is the reference
    assert acc["ratio"] == pytest.approx(1.0)
    assert perf["validity"] == "VALID" and perf["samples_per_second"] > 1
    assert r["verdict"]["verdict"] == "PASS" and r["verdict"]["feasible"]
    assert r["submission_ready"] is False  # quick profile
    conf = (run_dir / "performance" / "user.conf").read_text()
    assert "bert.Offline.target_qps" in conf and "bert.Offline.min_duration = 1000" in conf
    for key in ("system", "packages", "config", "timings_s", "git_commit"):
        assert key in r
    assert "verdict     : PASS" in proc.stdout


@pytest.mark.slow
def test_int8_is_judged_against_the_fp32_reference_and_accuracy_is_reused(
    run_cli, tmp_path, embedded
):
    first = run_cli(*EMBEDDED, "precision=int8", "reuse_accuracy=false", run_dir=tmp_path / "a")
    assert first.returncode == 0, first.stderr[-3000:]
    a = _results(tmp_path / "a")["accuracy"]
    assert a["numerics"]["precision"] == "int8" and a["reference_f1"] > 0
    assert "fp32" in a["reference_source"]
    assert a["ratio"] == pytest.approx(a["f1"] / a["reference_f1"])
    # Same numerics, other batch and threads: accuracy is reused, not re-measured.
    second = run_cli(*EMBEDDED, "precision=int8", "batch=8", "threads=1", run_dir=tmp_path / "b")
    assert second.returncode == 0, second.stderr[-3000:]
    b = _results(tmp_path / "b")
    assert b["accuracy"]["reused"] and b["accuracy"]["f1"] == a["f1"]
    assert not (tmp_path / "b" / "accuracy").exists()
    assert b["performance"]["validity"] == "VALID"
    assert "[reused]" in second.stdout


@pytest.mark.slow
@requires_shared_data()
def test_embedded_model_on_real_squad_through_the_mirror(run_cli, tmp_path, embedded):
    proc = run_cli(
        *EMBEDDED,
        "dataset=squad",
        f"assets.mirror={SHARED_DATA}",
        "assets.offline=true",
        "profile.max_samples=128",
        run_dir=tmp_path / "sq",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    acc = _results(tmp_path / "sq")["accuracy"]
    assert acc["n_samples"] == 128 and acc["f1"] > 10.0  # low but real (REFERENCE §7: ~40)
