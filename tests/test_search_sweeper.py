"""The Optuna sweeper end to end: `python -m bert_sweep -m +search=...` with real loadgen jobs.

The noop backend keeps trials to a few seconds (two loadgen processes each, no compute); its
accuracy is not judged, so every trial here is infeasible — the constraint case with a real model
is in test_search_constraint.py. Studies live in real sqlite files under tmp_path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import ROOT, SHARED_DATA, requires_shared_data

pytestmark = requires_shared_data()
optuna.logging.set_verbosity(optuna.logging.WARNING)
STUDY = "t"


@pytest.fixture(scope="module")
def placeholder_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("m") / "unused.onnx"
    path.write_bytes(b"the noop backend never reads its model file")
    return path


def search_cmd(sweep_dir: Path, model: Path, *extra: str) -> list[str]:
    """The cpu_onnx preset pinned to the noop backend; `extra` adds sweeps and settings."""
    return [
        sys.executable,
        "-m",
        "bert_sweep",
        "-m",
        "+search=cpu_onnx",
        "backend=noop",
        "model=file",
        f"model.file={model}",
        "dataset=squad",
        f"assets.mirror={SHARED_DATA}",
        "tracking=none",
        "assets.progress=false",
        "precision=fp32",
        "threads=0",
        "harness.trim_padding=false",
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.sweeper.study_name={STUDY}",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=30",
        *extra,
    ]


def run(cmd: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def trials(sweep_dir: Path) -> list:
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    return optuna.load_study(study_name=STUDY, storage=storage).get_trials()


def outcomes(sweep_dir: Path) -> list[str]:
    from bert_sweep.search.study import outcome_of

    return [outcome_of(t) for t in trials(sweep_dir)]


def job_results(sweep_dir: Path, number: int) -> dict:
    return json.loads((sweep_dir / str(number) / "results.json").read_text())


@pytest.mark.slow
def test_search_records_trials_table_and_reuses_duplicates(tmp_path, placeholder_model):
    sweep = tmp_path / "search"
    proc = run(
        search_cmd(
            sweep,
            placeholder_model,
            "batch=choice(16,32,128)",
            "hydra.sweeper.n_trials=3",
            # after the baseline (batch=32), the same config again: a cached duplicate
            "hydra.sweeper.enqueue=[{batch:32}]",
        )
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = trials(sweep)
    # the duplicate ran no job and does not use up n_trials: three jobs ran (the sampler may
    # propose more duplicates; they are free too)
    got = outcomes(sweep)
    assert got[:2] == ["ok", "cached"] and got.count("ok") == 3
    assert set(got) == {"ok", "cached"}
    base, dup = found[:2]
    measured = [t for t, o in zip(found, got, strict=True) if o == "ok"]
    assert base.user_attrs["baseline"] and base.params == {"batch": 32}
    assert dup.user_attrs["cached_from"] == 0 and dup.value == base.value
    for t, o in zip(found, got, strict=True):
        assert (sweep / str(t.number)).exists() == (o == "ok")  # duplicates ran no job
    for t in measured:
        r = job_results(sweep, t.number)
        # the value told to Optuna is the job's own performance figure
        assert t.value == r["performance"]["samples_per_second"] > 0
        assert t.user_attrs["batch_size"] == r["batch_size"] == t.params["batch"]
        # noop accuracy is not judged: never feasible
        assert t.user_attrs["constraints"][0] > 0 and t.user_attrs["feasible"] is False
    summary = json.loads((sweep / "summary.json").read_text())
    assert [r["status"] for r in summary["rows"]] == got
    assert summary["best_trial"] is None and not (sweep / "best_overrides.json").exists()
    assert "no feasible trial" in proc.stdout and "optuna-dashboard sqlite:///" in proc.stdout
    assert (sweep / "plots" / "samples_vs_batch.png").stat().st_size > 0
    assert (sweep / "plots" / "optimization_history.png").stat().st_size > 0

    # the same command again: n_trials already reached, nothing new runs
    again = run(
        search_cmd(sweep, placeholder_model, "batch=choice(16,32,128)", "hydra.sweeper.n_trials=3")
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(trials(sweep)) == len(found)
    assert "n_trials=3 reached" in again.stdout + again.stderr


@pytest.mark.slow
def test_failing_trials_are_recorded_and_the_failure_rate_stops_the_search(
    tmp_path, placeholder_model
):
    sweep = tmp_path / "search"
    # backend=onnx cannot read the placeholder file: those jobs fail, noop ones run
    base = [
        "hydra.sweeper.enqueue=[{backend:onnx},{backend:noop}]",
        "hydra.sweeper.baseline=false",
        "hydra.sweeper.max_failure_rate=1.0",
    ]
    cmd = [c for c in search_cmd(sweep, placeholder_model) if c != "backend=noop"]
    proc = run([*cmd, "backend=choice(onnx,noop)", "hydra.sweeper.n_trials=2", *base])
    assert proc.returncode == 0, proc.stderr[-3000:]
    failed, ok = trials(sweep)
    assert outcomes(sweep) == ["failed", "ok"]
    assert failed.params["backend"] == "onnx" and ok.params["backend"] == "noop"
    assert "not a readable ONNX model" in failed.user_attrs["error"]
    assert failed.user_attrs["error_kind"] == "AssetError"
    assert job_results(sweep, failed.number)["status"] == "failed"
    table = (sweep / "summary.md").read_text()
    assert "not a readable ONNX model" in table

    # resumed with a stricter limit: 1 of 2 failed > 0.4 stops at once, one line, exit 2
    strict = run(
        [
            *cmd,
            "backend=choice(onnx,noop)",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.max_failure_rate=0.4",
            "hydra.sweeper.min_trials_for_failure_rate=2",
        ]
    )
    assert strict.returncode == 2
    last = strict.stderr.strip().splitlines()[-1]
    assert last.startswith("bert_sweep: error: hydra.sweeper.max_failure_rate=0.4: failure rate")
    assert len(trials(sweep)) == 2


def test_bad_search_space_is_one_line(tmp_path, placeholder_model):
    proc = run(search_cmd(tmp_path / "s", placeholder_model, "+hydra.sweeper.space.batch.lo=1"))
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        "bert_sweep: error: hydra.sweeper.space.batch='lo': "
        "expected keys among choices/low/high/step/log/when/type"
    )


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (KeyError, ValueError):
            pass  # trial not there yet
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path, placeholder_model):
    sweep = tmp_path / "search"
    cmd = search_cmd(
        sweep, placeholder_model, "batch=choice(1,2,4,8,16,64,128)", "hydra.sweeper.n_trials=4"
    )
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        # kill the sweeper while its second trial runs (the first one completed); the study
        # exists once the first job folder does (reading earlier could race its creation)
        _wait_for(lambda: (sweep / "0").is_dir(), 300, "first job")
        _wait_for(
            lambda: outcomes(sweep)[:2] in (["ok", "running"], ["cached", "running"]),
            300,
            "trial 1 running",
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.killpg(proc.pid, signal.SIGKILL)  # its loadgen child, if any
    before = trials(sweep)
    assert [t.state.name for t in before[:2]] == ["COMPLETE", "RUNNING"]
    first_mtime = (sweep / "0" / "results.json").stat().st_mtime_ns

    resumed = run(cmd)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = trials(sweep)
    got = outcomes(sweep)
    assert got[1] == "interrupted" and after[1].state.name == "FAIL"
    assert "worker pid" in after[1].user_attrs["error"]
    # the completed trial is kept, not repeated; the interrupted one does not count
    assert after[0].value == before[0].value and after[0].params == before[0].params
    assert (sweep / "0" / "results.json").stat().st_mtime_ns == first_mtime
    assert got.count("ok") == 4 and got.count("interrupted") == 1
    assert set(got) <= {"ok", "cached", "interrupted"}
    for t in after:
        if got[t.number] == "ok":
            assert job_results(sweep, t.number)["performance"]["samples_per_second"] == t.value


@pytest.mark.slow
def test_two_workers_share_one_study(tmp_path, placeholder_model):
    sweep = tmp_path / "search"
    cmd = search_cmd(
        sweep,
        placeholder_model,
        "batch=choice(1,2,4,8,16,32,64,128)",
        "harness.batch_timeout_ms=choice(1.0,2.0,4.0)",
        "hydra.sweeper.n_trials=6",
    )
    workers = [
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for w in workers:
        _, err = w.communicate(timeout=900)
        assert w.returncode == 0, err[-3000:]
    found = trials(sweep)
    got = outcomes(sweep)
    # exactly n_trials jobs, none lost, none extra (cached duplicates ran no job)
    assert got.count("ok") == 6
    assert set(got) <= {"ok", "cached", "over_budget"}
    numbers = [t.number for t in found]
    assert numbers == sorted(set(numbers))
    pids = {t.user_attrs["worker"]["pid"] for t in found}
    assert len(pids) == 2  # both workers took trials
    # every measured trial ran exactly one job in its own folder; duplicates ran none
    hashes = {}
    for t in found:
        if got[t.number] == "ok":
            r = job_results(sweep, t.number)
            assert r["run_dir"] == str(sweep / str(t.number))
            assert t.user_attrs["config_hash"] not in hashes
            hashes[t.user_attrs["config_hash"]] = t.number
        elif got[t.number] == "cached":
            assert not (sweep / str(t.number)).exists()


def test_the_advertised_dashboard_comes_with_the_search_extra():
    """The search summary prints `optuna-dashboard <storage>`: the extras must install it."""
    import importlib.util
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for name in ("search", "dev"):
        assert any(r.startswith("optuna-dashboard") for r in extras[name]), extras[name]
    assert importlib.util.find_spec("optuna_dashboard") is not None
