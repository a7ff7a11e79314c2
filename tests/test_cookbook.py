"""The README's cookbook, line by line: every command it shows is run here, as written.

The lines are read from README.md itself (the first ```bash block under "## Cookbook"), so the
doc and the test cannot drift: a new line without an expectation below fails
`test_every_cookbook_line_has_an_expectation`, and so does an expectation for a line that is gone.

Each run gets its own run (or sweep) dir and `tracking=none`, so nothing lands in the checkout's
outputs/ or MLflow store; nothing else is added. Lines that cannot run on an offline machine (the
official BERT-large downloads) run with `assets.offline=true` and an empty cache and must stop
with their one-line "place the file by hand" error, exit 2. `model=bert-large-perf` builds a 1.3 GB
random BERT-large and runs it at 0.5 samples/s on 2 cores (about 5 minutes): it is checked the same
way (it needs the real SQuAD dev set, which an empty offline cache lacks), and
benchmarks/harness_overhead.py runs with a small sample count.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bert_sweep.report.record import RunRecord
from tests.conftest import ROOT, SHARED_DATA


def cookbook_lines() -> list[str]:
    """The `$PY ...` lines of the README's cookbook block, comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Cookbook\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = []
    for raw in block.splitlines():
        if raw.startswith("$PY "):
            lines.append(" ".join(shlex.split(raw, comments=True)[1:]))
    return lines


LINES = cookbook_lines()
EXPECTATIONS: dict[str, Callable] = {}


def expect(line: str):
    def register(check: Callable) -> Callable:
        EXPECTATIONS[line] = check
        return check

    return register


def _run(args: list[str], tmp: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    cmd = [sys.executable, *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _single(line: str, tmp: Path, *extra: str) -> tuple[subprocess.CompletedProcess, RunRecord]:
    run_dir = tmp / "run"
    proc = _run([*shlex.split(line), *extra, f"hydra.run.dir={run_dir}", "tracking=none"], tmp)
    return proc, RunRecord.read(run_dir)


def _passes(line: str, tmp: Path) -> RunRecord:
    """A run of the embedded model that must end PASS (accuracy kept, performance VALID)."""
    proc, record = _single(line, tmp)
    assert record.status == "ok", (record.error, proc.stderr[-2000:])
    assert record.performance.validity == "VALID", record.performance.invalid_reasons
    assert record.verdict.verdict == "PASS", record.verdict
    assert proc.returncode == 0 and "verdict" in proc.stdout, proc.stderr[-2000:]
    return record


def _offline_error(line: str, tmp: Path, names: str) -> str:
    """Cannot run offline: one line naming the missing file and where to place it, exit 2."""
    extra = ["assets.offline=true", f"assets.cache_dir={tmp / 'empty_cache'}"]
    proc = _run([*shlex.split(line), *extra, f"hydra.run.dir={tmp / 'run'}", "tracking=none"], tmp)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("bert_sweep: error: "), proc.stderr
    assert names in lines[0] and "offline" in lines[0] and "place the file by hand" in lines[0]
    return lines[0]


@expect("-m bert_sweep")
def _default(line, tmp):
    record = _passes(line, tmp)
    assert (record.model, record.backend, record.scenario) == ("embedded", "onnx", "Offline")
    assert record.profile == "quick" and record.batch_size == 32


def _completes(line: str, tmp: Path) -> RunRecord:
    """A run that completes with a verdict either way; the exit code follows the verdict."""
    proc, record = _single(line, tmp)
    assert record.status == "ok", (record.error, proc.stderr[-2000:])
    assert record.performance.samples_per_second > 0
    assert proc.returncode == (0 if record.exit_ok else 3), proc.stderr[-2000:]
    return record


@expect("-m bert_sweep batch=64 threads=2 precision=int8")
def _int8(line, tmp):
    # Static int8 (the default) keeps ~99.2 % of the fp32 F1 on the synthetic dev, close to the
    # line: the run is judged against the fp32 reference and may honestly go either way.
    record = _completes(line, tmp)
    assert record.precision == "int8" and record.batch_size == 64
    assert record.config["backend"]["quantization"] == "static"
    calibration = record.backend_info["details"]["calibration"]
    assert calibration["overlaps_scored"] is False  # quick profile: the unscored tail
    assert record.performance.validity == "VALID", record.performance.invalid_reasons
    assert record.accuracy.reference_f1 and record.accuracy.ratio == pytest.approx(
        record.accuracy.f1 / record.accuracy.reference_f1
    )


@expect("-m bert_sweep precision=int8 backend.quantization=dynamic")
def _int8_dynamic(line, tmp):
    # Dynamic int8 keeps ~93 % of the fp32 F1 on the synthetic dev: an honest FAIL (exit 3).
    record = _completes(line, tmp)
    assert record.config["backend"]["quantization"] == "dynamic"
    assert record.accuracy.ratio < 0.99 and record.verdict.verdict == "FAIL"


@expect("-m bert_sweep scenario=server")
def _server(line, tmp):
    # Validity depends on the 130 ms p99 bound, which batches of 32 on 2 cores exceed: the run
    # completes either way and exits accordingly.
    record = _completes(line, tmp)
    assert record.scenario == "Server" and record.performance.validity in ("VALID", "INVALID")


@expect("-m bert_sweep profile=test")
def _profile_test(line, tmp):
    record = _passes(line, tmp)
    assert record.profile == "test" and record.accuracy.n_samples == record.n_samples
    assert record.performance.samples_issued == 1024


@expect("-m bert_sweep target=0.999")
def _target(line, tmp):
    record = _passes(line, tmp)
    assert record.target == 0.999


@expect("-m bert_sweep backend=noop")
def _noop(line, tmp):
    """No compute: the warm-up sizes the query from the measured rate, so it ends VALID."""
    proc, record = _single(line, tmp)
    assert record.status == "ok", (record.error, proc.stderr[-2000:])
    assert record.performance.validity == "VALID", record.performance.invalid_reasons
    assert record.verdict.verdict == "PERF-ONLY" and proc.returncode == 0, proc.stderr[-2000:]


@expect("-m bert_sweep backend=openvino precision=bf16")
def _openvino_bf16(line, tmp):
    # bf16 logits differ from fp32 by a few hundredths here; whether F1 keeps 99 % is what the
    # verdict says, so the run completes either way and exits accordingly.
    record = _completes(line, tmp)
    assert record.backend == "openvino" and record.precision == "bf16"
    assert record.backend_info["name"] == "openvino" and record.packages.get("openvino")
    assert record.performance.validity == "VALID", record.performance.invalid_reasons
    # judged against the same model's fp32 onnxruntime F1 (the embedded model has no official one)
    acc = record.accuracy
    assert acc.reference_is_self and "onnxruntime" in acc.reference_source
    assert acc.ratio == pytest.approx(acc.f1 / acc.reference_f1)


@expect("-m bert_sweep backend=deepsparse batch=8")
def _deepsparse(line, tmp):
    # the venv is made on first use (about a minute with PyPI reachable), then fp32 static shapes
    record = _passes(line, tmp)
    assert record.backend == "deepsparse" and record.packages.get("deepsparse") == "1.8.0"
    assert record.backend_info["details"]["compile_s"]  # the shapes it compiled, with timings


@expect("-m bert_sweep backend.isolated=true")
def _isolated(line, tmp):
    record = _passes(line, tmp)
    assert record.backend == "onnx" and record.config["backend"]["isolated"] is True
    assert record.backend_info["details"]["isolated"]


@expect("-m bert_sweep harness.trim_padding=true")
def _trim(line, tmp):
    record = _passes(line, tmp)
    assert record.config["harness"]["trim_padding"] is True
    # Each batch is cut to its longest member; in loadgen's random order a batch of 32 usually
    # holds one full-length window (harness.sort_by_length=true groups similar lengths).
    sut = record.performance.sut
    assert sut["tokens_real"] <= sut["tokens_computed"] <= sut["samples"] * 384


@expect("-m bert_sweep -m backend=onnx batch=32,64")
def _grid(line, tmp):
    sweep = tmp / "sweep"
    proc = _run([*shlex.split(line), f"hydra.sweep.dir={sweep}", "tracking=none"], tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [RunRecord.read(sweep / str(i)) for i in (0, 1)]
    assert [r.batch_size for r in records] == [32, 64]
    assert all(r.status == "ok" and r.performance.validity == "VALID" for r in records)


@expect("-m bert_sweep dataset=squad assets.mirror=../shared/data")
def _squad(line, tmp):
    if not (SHARED_DATA / "squad-v1.1-dev.json").is_file():
        pytest.skip(f"needs the real SQuAD v1.1 dev set in {SHARED_DATA}")
    record = _completes(line, tmp)
    assert record.dataset == "squad" and record.performance.validity == "VALID"
    assert record.accuracy.meaningful and record.accuracy.f1 is not None


@expect("-m bert_sweep model=bert-large")
def _bert_large(line, tmp):
    _offline_error(line, tmp, "model.onnx")


@expect("-m bert_sweep model=bert-large-int8 batch=8")
def _bert_large_int8(line, tmp):
    _offline_error(line, tmp, "bert_large_v1_1_fake_quant.onnx")


@expect("-m bert_sweep model=bert-large-perf")
def _bert_large_perf(line, tmp):
    _offline_error(line, tmp, "dev-v1.1.json")


@expect("-m bert_sweep model=file model.file=/models/my.onnx")
def _model_file(line, tmp):
    proc = _run([*shlex.split(line), f"hydra.run.dir={tmp / 'run'}", "tracking=none"], tmp)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == "bert_sweep: error: model.file=/models/my.onnx: file not found"


@expect("-m bert_sweep assets.offline=true")
def _offline(line, tmp):
    _passes(line, tmp)  # everything the default run needs is built locally and cached


@expect("-m bert_sweep --cfg job")
def _cfg_job(line, tmp):
    proc = _run(shlex.split(line), tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"^backend:\n", proc.stdout, re.M) and "batch: 32" in proc.stdout


@expect("-m bert_sweep.embedded.build")
def _build(line, tmp):
    proc = _run(shlex.split(line), tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]


@expect("benchmarks/harness_overhead.py")
def _benchmark(line, tmp):
    proc = _run([*shlex.split(line), "--samples", "64", "--repeats", "1"], tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "harness/raw ratio" in proc.stdout and "written" in proc.stdout


# Lines that need neither the embedded model nor a loadgen run.
FAST = {
    "-m bert_sweep model=bert-large",
    "-m bert_sweep model=bert-large-int8 batch=8",
    "-m bert_sweep model=bert-large-perf",
    "-m bert_sweep model=file model.file=/models/my.onnx",
    "-m bert_sweep --cfg job",
}


def test_every_cookbook_line_has_an_expectation():
    assert len(LINES) >= 10
    assert sorted(set(LINES) - set(EXPECTATIONS)) == []  # a README line nobody tests
    assert sorted(set(EXPECTATIONS) - set(LINES)) == []  # a test for a line that is gone


@pytest.mark.parametrize(
    "line",
    [pytest.param(x, marks=() if x in FAST else pytest.mark.slow, id=x) for x in LINES],
)
def test_cookbook_line(line, tmp_path):
    if line not in EXPECTATIONS:
        pytest.fail(f"README cookbook line without an expectation: {line}")
    EXPECTATIONS[line](line, tmp_path)
