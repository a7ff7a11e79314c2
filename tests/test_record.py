"""The one typed run record: lossless JSON round trip, one-line errors for files it cannot read,
and a failed job recorded with the values it really ran with (backend.precision, not the knob)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bert_sweep.errors import BertSweepError
from bert_sweep.report.record import (
    RESULTS_FILE,
    SCHEMA_VERSION,
    Accuracy,
    ModelInfo,
    Performance,
    RecordError,
    RunRecord,
)
from bert_sweep.report.verdict import decide
from bert_sweep.search.grid import collect_jobs
from bert_sweep.submission.candidates import from_run_dir
from tests.conftest import ROOT, SHARED_DATA, requires_shared_data


def _full_record(run_dir) -> RunRecord:
    acc = Accuracy(
        exact_match=61.5,
        f1=70.25,
        n_samples=128,
        n_examples=120,
        reused=True,
        measured_in="/runs/a",
        measured_at="2025-01-02T03:04:05",
        numerics={"backend": "onnx", "precision": "int8"},
        wall_s=3.5,
        reference_f1=71.0,
        reference_source="its own fp32 onnxruntime F1",
        reference_is_self=True,
        ratio=70.25 / 71.0,
    )
    perf = Performance(
        result=123.4,
        result_name="samples_per_second",
        samples_per_second=123.4,
        validity="INVALID",
        invalid_reasons=["min duration not met"],
        latency_ns={"p50": 1.5e6, "p99": 3e6},
        samples_issued=400,
        duration_s=1.25,
        seeds={"qsl_rng_seed": 1},
        errors=["e"],
        sut={"batches": 4},
    )
    return RunRecord(
        status="ok",
        run_dir=str(run_dir),
        verdict=decide(acc, perf, 0.99, "squad"),
        model="file",
        dataset="squad",
        backend="onnx",
        precision="int8",
        batch_size=8,
        target=0.99,
        accuracy=acc,
        performance=perf,
        model_info=ModelInfo(path="/m.onnx", digest="abc"),
        timings_s={"total": 9.5},
        system={"cpu_model": "x", "accelerators": []},
        config={"backend": {"precision": "int8", "batch_size": 8}},
    )


def test_round_trip_through_the_file_is_lossless(tmp_path):
    record = _full_record(tmp_path)
    path = record.write(tmp_path)
    assert path == tmp_path / RESULTS_FILE
    back = RunRecord.read(tmp_path)
    assert back == record and back.to_json() == record.to_json()
    assert back.verdict.mlperf.indicative and back.accuracy.numerics["precision"] == "int8"
    flat = back.flat()
    assert flat["performance.samples_per_second"] == 123.4 and flat["verdict.feasible"] is False
    assert flat["verdict.mlperf.ratio"] == pytest.approx(70.25 / 90.874)
    assert all(not isinstance(v, dict | list) for v in flat.values())
    assert "config.backend.precision" not in flat  # the config is params, not figures


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "not found (expected the results.json of a bert_sweep run)"),
        ("{not json", "not valid JSON"),
        (
            '{"schema": 1, "status": "ok"}',
            f"schema=1: expected {SCHEMA_VERSION} (written by an older",
        ),
        ('{"schema": 3}', f"schema=3: expected {SCHEMA_VERSION} (written by another"),
        ("[1]", "expected a JSON object"),
    ],
)
def test_unreadable_or_other_schema_file_gives_one_line_naming_it(tmp_path, content, expected):
    if content is not None:
        (tmp_path / RESULTS_FILE).write_text(content)
    with pytest.raises(RecordError) as info:
        RunRecord.read(tmp_path)
    text = str(info.value)
    assert isinstance(info.value, BertSweepError) and "\n" not in text
    assert text.startswith(f"{tmp_path / RESULTS_FILE}: ") and expected in text


def test_malformed_field_names_the_field(tmp_path):
    data = _full_record(tmp_path).to_dict()
    data["performance"]["samples_issued"] = "many"
    (tmp_path / RESULTS_FILE).write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"performance\.samples_issued='many': expected int$"):
        RunRecord.read(tmp_path)
    data["performance"]["samples_issued"] = 1
    data["accuracy"]["f1_score"] = 1.0
    (tmp_path / RESULTS_FILE).write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"accuracy\.f1_score: unknown field of Accuracy$"):
        RunRecord.read(tmp_path)


def test_readers_refuse_an_older_schema_file_with_its_one_line(tmp_path):
    """The submission stage and the grid table read through the type too."""
    old = {"schema": 1, "status": "ok", "config": {}, "performance": {"samples_per_second": 1}}
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- batch=8\n")
    (job / RESULTS_FILE).write_text(json.dumps(old))
    with pytest.raises(RecordError, match="schema=1: expected 2"):
        from_run_dir(job)
    (row,) = collect_jobs(tmp_path)
    assert row["status"] == "unreadable" and "schema=1: expected 2" in row["note"]


@requires_shared_data()
def test_a_failed_int8_job_records_int8_and_its_batch(tmp_path):
    """A job whose config does not validate (batch=0) is recorded with backend.precision, the
    value it would have run with, not the top-level `precision` knob (fp32)."""
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "bert_sweep", "-m", "backend.precision=int8", "batch=0",
        "tracking=none", "assets.progress=false", f"hydra.sweep.dir={sweep}",
        f"assets.mirror={SHARED_DATA}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    record = RunRecord.read(sweep / "0")
    assert not record.ok and record.verdict.verdict == "ERROR", proc.stderr[-2000:]
    assert record.precision == "int8" and record.batch_size == 0 and record.backend == "onnx"
    assert "batch" in record.error and not record.exit_ok and not record.feasible
