"""The submission command: config errors, refusals, candidate sources, stage configs, progress.

Refusals that come before the rerun are exercised through the real command (a subprocess of
`python -m bert_sweep.submit`): they must end in one line and exit status 2 within seconds.
Refusals after the rerun run on real loadgen logs (an INVALID run, seeds of another version).
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bert_sweep.errors import AssetError, ConfigError
from bert_sweep.report.record import RunRecord
from bert_sweep.submission import gate
from bert_sweep.submission.candidates import from_mlflow, from_run_dir, from_sweep_dir
from bert_sweep.submission.errors import SubmissionRefused
from bert_sweep.submission.progress import Progress, format_duration
from bert_sweep.submission.run_config import (
    config_from_dict,
    config_from_overrides,
    stage_config,
    submission_profile,
)
from bert_sweep.submission.versions import VERSIONS
from tests.conftest import ROOT, SHARED_DATA, requires_shared_data


def submit_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bert_sweep.submit", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bert_sweep.submit: error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def noop_run(tmp_path_factory) -> tuple[Path, dict]:
    """A real quick run (noop backend, real loadgen, real SQuAD dev features)."""
    if not (SHARED_DATA / "squad-v1.1-dev.json").is_file():
        pytest.skip(f"needs the real SQuAD v1.1 dev set in {SHARED_DATA}")
    from bert_sweep.pipeline import Pipeline

    run_dir = tmp_path_factory.mktemp("noop")
    model = run_dir / "model.onnx"
    model.write_bytes(b"noop backend: never read")
    cfg = config_from_overrides(
        [
            "backend=noop",
            "model=file",
            f"model.file={model}",
            "dataset=squad",
            f"assets.mirror={SHARED_DATA}",
            "assets.progress=false",
            "profile=quick",
            "reuse_accuracy=false",
            "scenario.target_qps=1",  # far below the real rate: INVALID (ends before 1 s)
        ],
        run_dir,
    )
    return run_dir, Pipeline(cfg, run_dir).run()


def _overrides_file(tmp_path: Path, overrides: list[str]) -> Path:
    path = tmp_path / "best_overrides.yaml"
    path.write_text("".join(f"- {o}\n" for o in overrides))
    return path


# -- bad input: one line, exit 2 -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "expected exactly one of candidate.run_dir"),
        (["candidate.run_dir=a", "candidate.sweep_dir=b"], "expected exactly one of"),
        (["candidate.run_dir=x", "division=foo"], "division='foo': expected one of"),
        (["candidate.run_dir=x", "version=v9.9"], "version='v9.9': expected one of"),
        (["candidate.run_dir=x", "submitter=My Org"], "submitter='My Org': expected a folder"),
        (["candidate.run_dir=x", "system_type=datacenter"], "BERT is an edge benchmark"),
        (["candidate.run_dir=x", "batch=3"], "Key 'batch' not in 'SubmitConfig'"),
        (["candidate.run_dir=x", "target_qps_margin=abc"], "could not be converted to Float"),
        (["candidate.run_dir=/nonexistent/run"], "results.json of a bert_sweep run"),
    ],
)
def test_bad_input_is_one_line(args, expected, tmp_path):
    done = submit_cli(*args, f"output_dir={tmp_path / 'out'}")
    assert expected in _one_line_error(done)


# -- refusals before the rerun ---------------------------------------------------------------------
def test_refuses_a_backend_that_does_not_run_the_model(noop_run, tmp_path):
    run_dir, _ = noop_run
    done = submit_cli(f"candidate.run_dir={run_dir}", f"output_dir={tmp_path / 'out'}")
    assert "backend=noop: does not run the model" in _one_line_error(done)


def test_refuses_a_perf_only_model(tmp_path):
    path = _overrides_file(tmp_path, ["model=bert-large-perf", "dataset=squad"])
    done = submit_cli(f"candidate.overrides_file={path}", f"output_dir={tmp_path / 'out'}")
    assert "model=bert-large-perf: a perf-only model" in _one_line_error(done)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_refuses_a_dataset_other_than_squad(tmp_path):
    path = _overrides_file(tmp_path, ["dataset=synthetic"])
    done = submit_cli(f"candidate.overrides_file={path}", f"output_dir={tmp_path / 'out'}")
    assert "dataset=synthetic: a submission runs on the SQuAD v1.1 dev set" in _one_line_error(done)


@pytest.mark.parametrize("version", ["v5.1", "v6.0"])
def test_refuses_a_checker_version_whose_seeds_loadgen_cannot_write(version, tmp_path):
    path = _overrides_file(tmp_path, ["dataset=squad"])
    done = submit_cli(
        f"candidate.overrides_file={path}", f"version={version}", f"output_dir={tmp_path / 'o'}"
    )
    line = _one_line_error(done)
    assert f"installed mlcommons-loadgen {gate.installed_loadgen()} writes the v6.1" in line
    assert VERSIONS[version].loadgen in line


def test_loadgen_version_table():
    assert gate.loadgen_checker_version("6.0.17") == "v6.1"
    assert gate.loadgen_checker_version("6.0.16") == "v6.1"
    assert gate.loadgen_checker_version("6.0.9") == "v6.0"
    assert gate.loadgen_checker_version("5.1.2") == "v5.1"
    assert gate.loadgen_checker_version("7.0.0") is None  # unknown: the seeds check decides


# -- refusals after the rerun, on real logs --------------------------------------------------------
def test_refuses_an_invalid_run(noop_run):
    run_dir, _ = noop_run
    with pytest.raises(SubmissionRefused, match=r"performance result is INVALID \(result_min"):
        gate.check_performance_run(run_dir / "performance", VERSIONS["v6.1"])


def test_refuses_seeds_of_another_version(noop_run, tmp_path):
    run_dir, _ = noop_run
    with pytest.raises(SubmissionRefused, match=r"does not match checker v6\.0"):
        gate.check_performance_run(_valid_copy_of(run_dir, tmp_path), VERSIONS["v6.0"])


def _valid_copy_of(run_dir: Path, tmp_path: Path) -> Path:
    """A VALID performance run of the same config. The query is sized from the rate the warm-up
    measures on this machine (target_qps left to it), with a 4x margin over that rate, so the one
    query outlasts the 1 s minimum duration on any machine; a fixed target_qps would not."""
    from bert_sweep.pipeline import Pipeline

    cfg = config_from_dict(
        RunRecord.read(run_dir).config,
        ["scenario.target_qps=null", "scenario.qps_factor=4", "profile.accuracy=false"],
    )
    out = tmp_path / "valid"
    Pipeline(cfg, out).run()
    gate.check_performance_run(out / "performance", VERSIONS["v6.1"])  # VALID, v6.1 seeds
    return out / "performance"


def test_refuses_accuracy_that_is_not_meaningful(noop_run):
    run_dir, results = noop_run
    with pytest.raises(SubmissionRefused, match="accuracy is not meaningful"):
        gate.check_accuracy_run(results, run_dir, "open", "bert-99")


def test_refuses_reused_or_partial_accuracy(noop_run):
    run_dir, results = noop_run
    real = dataclasses.replace(
        results, accuracy=dataclasses.replace(results.accuracy, meaningful=True)
    )
    with pytest.raises(SubmissionRefused, match="not the whole dataset"):
        gate.check_accuracy_run(real, run_dir, "open", "bert-99")
    with pytest.raises(SubmissionRefused, match="accuracy was reused"):
        gate.check_accuracy_run(real, run_dir.parent, "open", "bert-99")


# -- candidates ------------------------------------------------------------------------------------
def test_candidate_from_run_dir(noop_run):
    run_dir, results = noop_run
    candidate = from_run_dir(run_dir)
    assert candidate.config == results.config and candidate.run_dir == run_dir
    assert candidate.samples_per_second == results.performance.samples_per_second
    cfg = config_from_dict(candidate.config)
    assert cfg.backend.name == "noop" and cfg.scenario.target_qps == 1


def test_candidate_from_failed_run_is_refused(tmp_path):
    RunRecord.failure(None, tmp_path, "crash", "boom").write(tmp_path)
    with pytest.raises(ConfigError, match="did not finish \\(boom\\)"):
        from_run_dir(tmp_path)


def test_candidate_from_search_result(noop_run, tmp_path):
    run_dir, results = noop_run
    _overrides_file(tmp_path, ["backend=noop", "batch=16", "dataset=squad"])
    (tmp_path / "best_trial.json").write_text(json.dumps({"number": 7, "run_dir": str(run_dir)}))
    candidate = from_sweep_dir(tmp_path)
    assert candidate.overrides == ["backend=noop", "batch=16", "dataset=squad"]
    assert "(trial 7)" in candidate.source and candidate.run_dir == run_dir
    assert candidate.samples_per_second == results.performance.samples_per_second
    cfg = config_from_overrides(candidate.overrides, tmp_path)
    assert cfg.backend.batch_size == 16 and cfg.dataset.name == "squad"
    with pytest.raises(AssetError, match=r"no best_overrides\.yaml"):
        from_sweep_dir(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "best_overrides.yaml").write_text("batch: 3\n")
    with pytest.raises(AssetError, match="expected a list of Hydra override strings"):
        from_sweep_dir(tmp_path / "bad")


def test_candidate_from_mlflow(noop_run, tmp_path):
    """A real sqlite MLflow store: the feasible run with the higher samples_per_second wins."""
    mlflow = pytest.importorskip("mlflow")
    run_dir, _ = noop_run
    other = tmp_path / "other_run"
    other.mkdir()
    (other / "results.json").write_text((run_dir / "results.json").read_text())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("study", artifact_location=str(tmp_path / "artifacts"))
    for folder, rate, feasible in ((run_dir, 100.0, 1.0), (other, 300.0, 0.0), (other, 50.0, 1.0)):
        run = client.create_run(exp, tags={"bert_sweep.job_dir": str(folder)})
        client.log_metric(run.info.run_id, "samples_per_second", rate)
        client.log_metric(run.info.run_id, "feasible", feasible)
        client.set_terminated(run.info.run_id)
    candidate = from_mlflow("study", uri)
    assert candidate.run_dir == run_dir and "MLflow run" in candidate.source
    with pytest.raises(ConfigError, match="no such experiment"):
        from_mlflow("nope", uri)
    with pytest.raises(AssetError, match="no MLflow store"):
        from_mlflow("study", f"sqlite:///{tmp_path / 'missing.db'}")


# -- stage configs ---------------------------------------------------------------------------------
@requires_shared_data()
def test_stage_configs_use_the_submission_profile(tmp_path):
    base = config_from_overrides(["dataset=squad", "harness.trim_padding=true"], tmp_path)
    profile = submission_profile()
    assert profile.min_duration_ms is None and profile.max_samples is None  # mlperf.conf rules
    acc = stage_config(base, "accuracy", tmp_path / "a", profile)
    perf = stage_config(base, "performance", tmp_path / "p", profile, target_qps=42.5)
    assert (acc.profile.accuracy, acc.profile.performance) == (True, False)
    assert (perf.profile.accuracy, perf.profile.performance) == (False, True)
    assert acc.reuse_accuracy is False and perf.reuse_accuracy is False
    assert perf.scenario.target_qps == 42.5 and acc.scenario.target_qps is None
    assert perf.harness.trim_padding and perf.paths.output_dir == str(tmp_path / "p")
    with pytest.raises(ConfigError, match="group choice"):
        config_from_dict(dataclasses.asdict(base), ["backend=noop"])


# -- progress --------------------------------------------------------------------------------------
def test_format_duration():
    assert [format_duration(s) for s in (5, 65, 3725, None)] == ["5s", "1m05s", "1h02m", "?"]


def test_progress_prints_elapsed_and_time_left_while_a_stage_runs():
    """The stage ends only once the reporter has sampled 25 % and then 50 %: events, not sleeps,
    so a slow or busy machine cannot miss a progress line."""
    stream = io.StringIO()
    progress = Progress({"accuracy run": 2.0, "performance run": 600.0}, 0.05, stream)
    done, quarter, half = threading.Event(), threading.Event(), threading.Event()

    def fraction() -> float:
        if done.is_set():
            half.set()  # the reporter prints this line before the stage's exit joins it
            return 0.5
        quarter.set()
        return 0.25

    with progress.stage("accuracy run", fraction=fraction):
        assert quarter.wait(60)
        done.set()
        assert half.wait(60)
    text = stream.getvalue()
    assert "accuracy run: starting (estimate 2s; about 10m02s left in all)" in text
    assert "(25% of samples)" in text and "(50% of samples)" in text
    assert "left in this stage, about 10m" in text
    assert "accuracy run: done in" in text
    assert progress.estimates["accuracy run"] == 0.0


@pytest.fixture(scope="module")
def tiny_model_run(tmp_path_factory) -> tuple[Path, dict]:
    """A quick run of a real (tiny, random-weight) ONNX BERT under onnxruntime."""
    if not (SHARED_DATA / "squad-v1.1-dev.json").is_file():
        pytest.skip(f"needs the real SQuAD v1.1 dev set in {SHARED_DATA}")
    from bert_sweep.assets.random_model import build_random_model
    from bert_sweep.config.schema import ModelConfig
    from bert_sweep.pipeline import Pipeline

    folder = tmp_path_factory.mktemp("tiny")
    spec = ModelConfig(
        name="tiny",
        source="random",
        num_layers=2,
        hidden_size=64,
        num_heads=4,
        intermediate_size=128,
    )
    model = build_random_model(spec, folder / "cache", progress=False)
    run_dir = folder / "run"
    cfg = config_from_overrides(
        [
            "model=file",
            f"model.file={model}",
            "dataset=squad",
            f"assets.mirror={SHARED_DATA}",
            "assets.progress=false",
            "profile=quick",
            "reuse_accuracy=false",
            "threads=2",
            "harness.trim_padding=true",
        ],
        run_dir,
    )
    return run_dir, Pipeline(cfg, run_dir).run()


def test_rerun_false_refuses_a_run_not_made_under_the_submission_profile(tiny_model_run, tmp_path):
    run_dir, results = tiny_model_run
    assert results.accuracy.meaningful  # a model that computes: the early gate lets it by
    done = submit_cli(
        f"candidate.run_dir={run_dir}", "rerun=false", f"output_dir={tmp_path / 'out'}"
    )
    assert "profile 'quick' runs cannot be packaged as they are" in _one_line_error(done)


def test_refuses_accuracy_over_part_of_the_dataset(tiny_model_run):
    run_dir, results = tiny_model_run
    with pytest.raises(SubmissionRefused, match=r"covered 256 samples, not the whole dataset"):
        gate.check_accuracy_run(results, run_dir, "open", "bert-99")


def test_time_left_comes_from_the_rate_since_samples_started():
    """A stage that spent 90 s on setup and then did 25% of its samples in 10 s has 20 s left."""
    progress = Progress({"accuracy run": None, "performance run": 700.0}, 30.0, io.StringIO())
    line = progress.line("accuracy run", 100.0, 0.5, since=(90.0, 0.25))
    assert "about 20s left in this stage, about 12m00s left in all" in line
    assert "about ? left" in progress.line("accuracy run", 100.0, None)


def test_candidate_from_the_search_stage_record(noop_run, tmp_path):
    """bert_sweep.search writes best_overrides.yaml as a record: overrides + trial + run_dir."""
    import yaml

    run_dir, results = noop_run
    record = {
        "study": "cpu_onnx",
        "trial": 3,
        "samples_per_second": results.performance.samples_per_second,
        "overrides": ["backend=noop", "batch=8", "dataset=squad"],
        "run_dir": str(run_dir),
    }
    (tmp_path / "best_overrides.yaml").write_text("# header\n" + yaml.safe_dump(record))
    candidate = from_sweep_dir(tmp_path)
    assert candidate.overrides == record["overrides"] and candidate.run_dir == run_dir
    assert "(trial 3)" in candidate.source
    assert candidate.samples_per_second == record["samples_per_second"]
