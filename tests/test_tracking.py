"""MLflow tracking on a real sqlite store: settings checks, the record of a job, grid sweeps with
nested runs, failures, interrupted jobs after a resume, and concurrent writers.

Runs go through `python -m bert_sweep` with the noop backend (real loadgen, no model compute), each
test with its own store under tmp_path, read back with MLflow's own client.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from bert_sweep.errors import ConfigError
from tests.conftest import ROOT, SHARED_DATA, requires_shared_data

pytest.importorskip("mlflow", reason="tracking needs the `tracking` (or `dev`) extra: mlflow")


# -- helpers -----------------------------------------------------------------------------------
def store_uri(folder: Path) -> str:
    return f"sqlite:///{Path(folder).absolute()}/mlflow.db"


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def noop_args(model_file: Path) -> list[str]:
    return [
        "backend=noop",
        "profile=quick",
        "model=file",
        f"model.file={model_file}",
        "dataset=squad",
        f"assets.mirror={SHARED_DATA}",
    ]


def cli(*args: str, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bert_sweep", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, **popen)


def all_runs(uri: str, experiment: str) -> list:
    c = client(uri)
    exp = c.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {uri}"
    return list(c.search_runs([exp.experiment_id], max_results=1000))


def artifact_paths(uri: str, run_id: str, folder: str | None = None) -> set[str]:
    c, out = client(uri), set()
    for item in c.list_artifacts(run_id, folder):
        if item.is_dir:
            out |= artifact_paths(uri, run_id, item.path)
        else:
            out.add(item.path)
    return out


@pytest.fixture(scope="module")
def placeholder_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "unused.onnx"
    path.write_bytes(b"the noop backend never reads its model file")
    return path


# -- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "uri", ["./mlruns", "file:///tmp/mlruns", "sqlite:///:memory:", "", "ftp://host/db"]
)
def test_bad_store_uri_is_one_line_naming_the_field(uri):
    from bert_sweep.tracking.settings import TrackingSettings

    with pytest.raises(ConfigError) as err:
        TrackingSettings(uri=uri)
    message = str(err.value)
    assert message.startswith("hydra.callbacks.tracking.uri=") and "\n" not in message


def test_bad_artifact_size_limit_names_the_field():
    from bert_sweep.tracking.settings import TrackingSettings

    with pytest.raises(ConfigError, match=r"^hydra\.callbacks\.tracking\.max_artifact_mb=0"):
        TrackingSettings(uri="sqlite:////tmp/x.db", max_artifact_mb=0)


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from bert_sweep.config import config_dir
    from bert_sweep.config.store import register_configs

    register_configs()
    with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="test"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        return cfg


def test_default_store_is_sqlite_under_outputs_and_none_turns_it_off():
    from bert_sweep.tracking.settings import CALLBACK_TARGET, validate_tracking

    cfg = _compose([])
    settings = validate_tracking(cfg)
    assert cfg.hydra.callbacks.tracking._target_ == CALLBACK_TARGET
    assert settings.sqlite_path == Path(os.getcwd()).absolute() / "outputs" / "mlflow.db"
    assert settings.resolved_artifact_root == str(settings.sqlite_path.parent / "mlartifacts")
    assert "timeout=" in settings.client_uri and "timeout=" not in settings.ui_uri

    off = _compose(["tracking=none"])
    assert validate_tracking(off) is None
    # Hydra's own no-op callback takes the slot: nothing imports MLflow.
    assert off.hydra.callbacks.tracking._target_ == "hydra.experimental.callback.Callback"

    server = validate_tracking(_compose(["hydra.callbacks.tracking.uri=http://127.0.0.1:5000"]))
    assert server.sqlite_path is None and server.resolved_artifact_root is None
    with pytest.raises(ConfigError, match=r"^hydra\.callbacks\.tracking\.uri=\./mlruns: "):
        validate_tracking(_compose(["hydra.callbacks.tracking.uri=./mlruns"]))


# -- the record of one job (pure mapping) ------------------------------------------------------
def test_flatten_keeps_lists_whole_and_clips_long_values():
    from bert_sweep.tracking.record import MAX_PARAM_VALUE, flatten

    flat = flatten({"a": {"b": {"c": 1}, "d": ["x", "y"]}, "e": None, "f": "z" * 7000, "g": {}})
    assert flat["a.b.c"] == "1" and flat["a.d"] == '["x", "y"]' and flat["e"] == "null"
    assert flat["g"] == "{}" and len(flat["f"]) == MAX_PARAM_VALUE and flat["f"].endswith("...")


def test_failed_results_map_to_failed_status_with_reason():
    from bert_sweep.report.record import Accuracy, Performance, RunRecord, Verdict
    from bert_sweep.tracking.record import (
        FAILED,
        failure_note,
        metrics_from_results,
        run_status,
        tags_from_results,
    )

    cfg = {"backend": {"name": "noop"}}
    failed = RunRecord.failure(cfg, "run", "ConfigError", "batch=0: expected an integer >= 1")
    assert run_status(failed) == FAILED and run_status(None) == FAILED
    tags = tags_from_results(failed)
    assert tags["error"] == failed.error and tags["status"] == "failed"
    assert tags["backend"] == "noop" and failed.error in failure_note(failed)
    assert metrics_from_results(failed) == {}  # nothing measured, nothing invented
    # the callback's own record of a job that left none
    bare = {"status": "failed", "error": "no results.json written", "error_kind": "crash"}
    assert run_status(bare) == FAILED and "no results.json" in failure_note(bare)
    ok = RunRecord(status="ok", run_dir="run", verdict=Verdict("FAIL"), performance=Performance())
    assert "latency_p50_ms" not in metrics_from_results(ok)
    ok.accuracy = Accuracy(f1=float("nan"), exact_match=1.0)
    nan = metrics_from_results(ok)
    assert "f1" not in nan and nan["exact_match"] == 1.0


# -- real sweeps through the CLI ---------------------------------------------------------------
@requires_shared_data()
def test_grid_sweep_records_parent_nested_children_and_a_failed_job(tmp_path, placeholder_model):
    uri, sweep_dir = store_uri(tmp_path / "store"), tmp_path / "sweep"
    proc = cli(
        "-m",
        *noop_args(placeholder_model),
        "batch=8,32,0",  # batch=0 fails its job (validated per job); the sweep goes on
        "reuse_accuracy=false",  # each job's own accuracy logs
        "hydra/callbacks=grid_summary",  # the sweep's summary table, logged on the parent
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.callbacks.tracking.uri={uri}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = all_runs(uri, f"sweep {sweep_dir.name}")  # experiment named after the sweep
    parents = [r for r in runs if r.data.tags.get("bert_sweep.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("bert_sweep.role") == "job"]
    assert len(parents) == 1 and len(children) == 3 and len(runs) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)

    by_batch = {c.data.params["batch"]: c for c in children}
    assert set(by_batch) == {"8", "32", "0"}
    failed = by_batch["0"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["error"].startswith("batch=0")
    assert "samples_per_second" not in failed.data.metrics

    rates = []
    for batch in ("8", "32"):
        run = by_batch[batch]
        job_dir = Path(run.data.tags["bert_sweep.job_dir"])
        results = json.loads((job_dir / "results.json").read_text())
        perf = results["performance"]
        assert run.info.status == "FINISHED" and results["status"] == "ok"
        # params: the flattened resolved config
        assert run.data.params["backend.batch_size"] == batch
        assert run.data.params["backend.name"] == "noop"
        assert run.data.params["profile.max_samples"] == str(
            results["config"]["profile"]["max_samples"]
        )
        # metrics: exactly the figures of results.json
        m = run.data.metrics
        assert m["samples_per_second"] == pytest.approx(perf["samples_per_second"])
        assert m["latency_p99_ms"] == pytest.approx(perf["latency_ns"]["p99"] / 1e6)
        assert m["valid"] == (1.0 if perf["validity"] == "VALID" else 0.0)
        assert m["feasible"] == (1.0 if results["verdict"]["feasible"] else 0.0)
        assert m["time_performance_s"] == pytest.approx(results["timings_s"]["performance"])
        assert m["f1"] == pytest.approx(results["accuracy"]["f1"])
        assert m["exact_match"] == pytest.approx(results["accuracy"]["exact_match"])
        assert run.data.tags["accuracy_meaningful"] == "false"  # noop: measured, not judged
        rates.append(m["samples_per_second"])
        # tags: what ran, where, with what software, and the outcome
        t = run.data.tags
        assert (t["model"], t["backend"], t["scenario"], t["profile"]) == (
            "file",
            "noop",
            "Offline",
            "quick",
        )
        assert t["device"] == "cpu" and t["precision"] == "fp32"
        assert t["verdict"] == results["verdict"]["verdict"]
        assert t["system.cpu"] == results["system"]["cpu_model"]
        assert t["pkg.mlflow"] == results["packages"]["mlflow"]
        assert t.get("git_commit") == results["git_commit"]
        # artifacts: loadgen logs with user.conf, the resolved config, results.json
        paths = artifact_paths(uri, run.info.run_id)
        for name in (
            "results.json",
            "config/resolved.yaml",
            "hydra/config.yaml",
            "performance/user.conf",
            "performance/mlperf_log_summary.txt",
            "performance/mlperf_log_detail.txt",
            "accuracy/mlperf_log_accuracy.json",
        ):
            assert name in paths, (name, sorted(paths))

    assert parent.data.metrics["jobs"] == 3 and parent.data.metrics["jobs_failed"] == 1
    assert parent.data.metrics["best_samples_per_second"] == max(rates)
    sweep_files = artifact_paths(uri, parent.info.run_id)
    assert {"sweep/multirun.yaml", "sweep/summary.md", "sweep/summary.csv"} <= sweep_files


@requires_shared_data()
def test_failed_single_run_is_recorded_failed_with_its_reason(tmp_path):
    uri, missing = store_uri(tmp_path / "store"), tmp_path / "missing.onnx"
    proc = cli(
        *noop_args(missing),
        f"hydra.run.dir={tmp_path / 'run'}",
        f"hydra.callbacks.tracking.uri={uri}",
    )
    assert proc.returncode == 2, proc.stderr[-2000:]  # the job ends the process with sys.exit
    (run,) = all_runs(uri, "runs")
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith(f"model.file={missing}")
    assert "FAILED" in run.data.tags["mlflow.note.content"]
    assert "mlflow.parentRunId" not in run.data.tags
    assert "results.json" in artifact_paths(uri, run.info.run_id)


def test_ui_entry_without_a_store_stops_with_one_line(tmp_path):
    missing = tmp_path / "nothing.db"
    proc = subprocess.run(
        [sys.executable, "-m", "bert_sweep.tracking.ui", "--uri", f"sqlite:///{missing}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"bert_sweep: error: --uri sqlite:///{missing}: no store at {missing}"
    )


@pytest.mark.slow
@requires_shared_data()
def test_runs_reach_a_tracking_server_over_http(tmp_path, placeholder_model):
    """`hydra.callbacks.tracking.uri=http://...`: a team server (here `mlflow ui` on a free
    port) records the run, and its artifacts go through the server to its own folder."""
    from bert_sweep.tracking.ui import serve

    server_store, server_artifacts = store_uri(tmp_path / "server"), tmp_path / "server-artifacts"
    with serve(
        server_store, log_file=tmp_path / "server.log", artifacts=str(server_artifacts)
    ) as ui:
        proc = cli(
            *noop_args(placeholder_model),
            f"hydra.run.dir={tmp_path / 'run'}",
            f"hydra.callbacks.tracking.uri={ui.url}",
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        (run,) = all_runs(ui.url, "runs")
        assert run.info.status == "FINISHED" and run.data.metrics["samples_per_second"] > 0
        assert {"results.json", "performance/user.conf"} <= artifact_paths(ui.url, run.info.run_id)
    assert list(server_artifacts.rglob("results.json"))  # stored by the server, not the client
    assert not (tmp_path / "server" / "mlartifacts").exists()


def _wait_for_running_job(uri: str, experiment: str, sweep: subprocess.Popen, first_job: Path):
    """Poll (the sweep gives no other signal) until a job run is RUNNING. The store is opened
    only once the first job folder exists: the sweep has created the store by then, and a second
    process creating it at the same moment is exactly what the design avoids."""
    deadline = time.monotonic() + 120
    while not (first_job / ".hydra").is_dir():
        assert sweep.poll() is None and time.monotonic() < deadline, "the sweep never started"
        time.sleep(0.3)
    c = client(uri)
    while time.monotonic() < deadline and sweep.poll() is None:
        exp = c.get_experiment_by_name(experiment)
        running = c.search_runs(
            [exp.experiment_id], "tags.`bert_sweep.role` = 'job' and attributes.status = 'RUNNING'"
        )
        if running:
            return running[0]
        time.sleep(0.3)
    raise AssertionError(f"no job run RUNNING in time (sweep exit code {sweep.poll()})")


@pytest.mark.slow
@requires_shared_data()
def test_interrupted_job_is_not_left_running_after_the_sweep_resumes(tmp_path, placeholder_model):
    uri, sweep_dir = store_uri(tmp_path / "store"), tmp_path / "sweep"
    args = [
        "-m",
        *noop_args(placeholder_model),
        "batch=8,16",
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.callbacks.tracking.uri={uri}",
    ]
    experiment = f"sweep {sweep_dir.name}"
    cmd = [sys.executable, "-m", "bert_sweep", *args, "profile.min_duration_ms=20000"]
    sweep = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        stuck = _wait_for_running_job(uri, experiment, sweep, sweep_dir / "0")
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)  # a hard kill: no exit hook runs
        sweep.wait(timeout=30)
    c = client(uri)
    assert c.get_run(stuck.info.run_id).info.status == "RUNNING"  # what a kill leaves behind

    proc = cli(*args)  # resume: the same sweep folder
    assert proc.returncode == 0, proc.stderr[-3000:]
    killed = c.get_run(stuck.info.run_id)
    assert killed.info.status == "KILLED"
    assert killed.data.tags["error"].startswith("interrupted")
    runs = all_runs(uri, experiment)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    parents = [r for r in runs if r.data.tags["bert_sweep.role"] == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # reused, not duplicated
    finished = [
        r for r in runs if r.info.status == "FINISHED" and r.data.tags["bert_sweep.role"] == "job"
    ]
    assert sorted(r.data.params["batch"] for r in finished) == ["16", "8"]


@pytest.mark.slow
@requires_shared_data()
def test_concurrent_sweep_processes_share_one_parent_and_all_land(tmp_path, placeholder_model):
    """Three sweep processes on one sweep folder (as Optuna workers of one study are) and one
    sqlite store, started together: one parent, every job recorded, no 'database is locked'."""
    uri, sweep_dir = store_uri(tmp_path / "store"), tmp_path / "sweep"
    procs = []
    for worker in range(3):
        cmd = [
            sys.executable,
            "-m",
            "bert_sweep",
            "-m",
            *noop_args(placeholder_model),
            "batch=8,16",
            "profile.max_samples=64",
            f"hydra.sweep.dir={sweep_dir}",
            f"hydra.sweep.subdir=w{worker}_${{hydra.job.num}}",
            f"hydra.callbacks.tracking.uri={uri}",
            "hydra.callbacks.tracking.experiment=concurrent",
        ]
        procs.append(
            subprocess.Popen(
                cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = [p.communicate(timeout=900) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "database is locked" not in err and "Callback MlflowTrackingCallback" not in err
    runs = all_runs(uri, "concurrent")
    parents = [r for r in runs if r.data.tags["bert_sweep.role"] == "sweep"]
    jobs = [r for r in runs if r.data.tags["bert_sweep.role"] == "job"]
    assert len(parents) == 1
    assert len(jobs) == 6 and all(r.info.status == "FINISHED" for r in jobs)
    assert {r.data.tags["mlflow.parentRunId"] for r in jobs} == {parents[0].info.run_id}
    assert all(r.data.metrics["samples_per_second"] > 0 for r in jobs)
    assert len({r.data.tags["bert_sweep.job_dir"] for r in jobs}) == 6


# -- concurrent writers at the store level -----------------------------------------------------
N_WRITERS, RUNS_PER_WRITER = 4, 8


def _writer(uri: str, worker: int) -> list[str]:
    """One process logging runs as a job does: create, params, metrics+tags, artifact, finish."""
    from bert_sweep.tracking.settings import TrackingSettings
    from bert_sweep.tracking.store import TrackingStore

    store = TrackingStore(TrackingSettings(uri=uri))
    experiment_id = store.experiment_id("stress")
    ids = []
    for i in range(RUNS_PER_WRITER):
        params = {f"p{k}": str(k * worker) for k in range(60)}
        run_id = store.start_run(experiment_id, f"w{worker}-{i}", {"worker": str(worker)}, params)
        metrics = {f"m{k}": float(worker * 1000 + i * 10 + k) for k in range(25)}
        store.log(run_id, metrics=metrics, tags={f"t{k}": str(i) for k in range(30)})
        store.log_text(run_id, f"worker {worker} run {i}", "note.txt")
        store.finish(run_id, "FINISHED")
        ids.append(run_id)
    return ids


@pytest.mark.slow
def test_concurrent_writers_on_one_sqlite_store_all_land(tmp_path):
    from bert_sweep.tracking.settings import TrackingSettings
    from bert_sweep.tracking.store import TrackingStore

    uri = store_uri(tmp_path / "store")
    TrackingStore(TrackingSettings(uri=uri)).ensure_created()  # once, before the jobs
    with ProcessPoolExecutor(N_WRITERS, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_writer, uri, w) for w in range(N_WRITERS)]
        ids = [run_id for f in futures for run_id in f.result(timeout=600)]
    runs = {r.info.run_id: r for r in all_runs(uri, "stress")}
    assert len(ids) == len(runs) == N_WRITERS * RUNS_PER_WRITER
    for run in runs.values():
        worker, i = (int(x) for x in run.info.run_name[1:].split("-"))
        assert run.info.status == "FINISHED"
        assert len(run.data.params) == 60 and run.data.params["p7"] == str(7 * worker)
        assert len(run.data.metrics) == 25
        assert math.isclose(run.data.metrics["m3"], worker * 1000 + i * 10 + 3)
        assert len(run.data.tags) >= 30
    with sqlite3.connect(tmp_path / "store" / "mlflow.db") as conn:
        # readers (the UI, parent lookups) never block the jobs' writers
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
