"""Bad input on the command line: one line naming the field or file, non-zero exit, no traceback,
and no half-written results."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED_DATA, requires_shared_data

TINY_SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "t",
            "paragraphs": [
                {
                    "context": "Ada Lovelace was born in London.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Where was Ada born?",
                            "answers": [{"text": "London", "answer_start": 25}],
                        }
                    ],
                }
            ],
        }
    ],
}


def _assert_one_line_error(proc, *needles: str) -> str:
    assert proc.returncode != 0, proc.stdout
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert err, "nothing on stderr"
    assert "Traceback" not in proc.stderr, proc.stderr
    line = err[-1]
    assert line.startswith("bert_sweep: error: "), proc.stderr
    for needle in needles:
        assert needle in line, line
    return line


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["batch=0"], ["batch=0", "expected"]),
        (["batch=-4"], ["batch=-4"]),
        (["threads=-1"], ["threads=-1", ">= 0"]),
        (["scenario=foo"], ["scenario=foo", "offline"]),
        # backends have no YAML of their own (registry): the precheck still lists them
        (["backend=tflite"], ["backend=tflite: expected one of", "'deepsparse'"]),
        (["-m", "backend=onnx,tflite"], ["backend=tflite: expected one of"]),
        (["scenario.name=Bogus"], ["scenario.name='Bogus'", "Offline"]),
        (["batch=abc"], ["batch=abc: expected an integer"]),
        (["+foo=1"], ["+foo=1: unknown key foo"]),
        (["+profile.bogus=1"], ["+profile.bogus=1: unknown key profile.bogus"]),
        (["precision=bf16"], ["backend=onnx precision=bf16 device=cpu", "fp32|fp16|int8"]),
        (["profile=nope"], ["profile=nope", "quick"]),
        (["-m", "batch=32,abc"], ["batch=abc: expected an integer"]),
    ],
)
def test_bad_overrides(run_cli, tmp_path, args, needles):
    proc = run_cli(*args, run_dir=tmp_path / "run", timeout=120)
    assert proc.returncode == 2
    line = _assert_one_line_error(proc, *needles)
    assert "hydra.run.dir" not in line  # the culprit alone, not the whole command line
    assert not (tmp_path / "run").exists()  # nothing started, nothing half-written


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bert_sweep", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["hydra.run.dir=/proc/x/run"], ["hydra.run.dir=/proc/x/run", "not a writable folder"]),
        (["hydra.run.dir=/sys/x"], ["hydra.run.dir=/sys/x", "not a writable folder"]),
        (["assets.cache_dir=/proc/x"], ["assets.cache_dir=/proc/x", "not a writable folder"]),
        (
            ["-m", "+search=cpu_onnx", "hydra.sweeper.storage=sqlite:////proc/x/optuna.db"],
            ["hydra.sweeper.storage=sqlite:////proc/x/optuna.db", "not a writable folder"],
        ),
        (["-m", "+search=cpu_onnx", "hydra.sweeper.n_trials=0"], ["hydra.sweeper.n_trials=0"]),
        (
            ["hydra.callbacks.tracking.uri=http://127.0.0.1:9"],
            ["hydra.callbacks.tracking.uri=http://127.0.0.1:9", "required=false"],
        ),
        (
            ["hydra.callbacks.tracking.uri=sqlite:////proc/x/mlflow.db"],
            ["hydra.callbacks.tracking.uri=sqlite:////proc/x/mlflow.db", "not a writable folder"],
        ),
    ],
)
def test_unusable_places_stop_before_the_run_even_as_root(tmp_path, args, needles):
    """Probed by creating a file, not by os.access (true for root in /proc and /sys)."""
    sweep = tmp_path / "sweep"
    proc = _cli(*args, f"hydra.sweep.dir={sweep}", "backend=noop")
    assert proc.returncode == 2, proc.stderr[-2000:]
    _assert_one_line_error(proc, *needles)
    assert not sweep.exists()


def test_probe_removes_the_folders_it_made(tmp_path):
    from bert_sweep.probe import why_not_writable

    assert why_not_writable(tmp_path / "a" / "b") is None
    assert list(tmp_path.iterdir()) == []
    assert "not a writable folder" in why_not_writable(Path("/proc/x/y"))


def test_help_lists_the_real_groups_and_options():
    from bert_sweep.config import config_dir

    proc = _cli("--help")
    assert proc.returncode == 0, proc.stderr
    assert "powered by Hydra" not in proc.stdout
    assert "base_" not in proc.stdout  # schema nodes are not options
    for group in ("model", "backend", "dataset", "scenario", "profile", "tracking"):
        line = next(ln for ln in proc.stdout.splitlines() if ln.split()[:1] == [group])
        options = sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))
        if group == "backend":  # stored from the backend list, no YAML files
            from bert_sweep.backends.registry import names

            options = sorted(names())
        assert line.split()[1:] == " | ".join(options).split(), line


def test_unwritable_output_dir(run_cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli(run_dir=blocker / "run", timeout=120)
    _assert_one_line_error(proc, "hydra.run.dir", "not a writable folder")


@pytest.fixture
def tiny_squad(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_SQUAD))
    return path


def _file_model_args(model, dataset):
    return ["model=file", f"model.file={model}", "dataset=file", f"dataset.path={dataset}"]


def test_missing_model_file(run_cli, tmp_path, tiny_squad):
    run_dir = tmp_path / "run"
    proc = run_cli(*_file_model_args(tmp_path / "absent.onnx", tiny_squad), run_dir=run_dir)
    _assert_one_line_error(proc, "absent.onnx", "not found")
    assert json.loads((run_dir / "results.json").read_text())["status"] == "failed"


def test_corrupt_model_file(run_cli, tmp_path, tiny_squad):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x07not really an onnx protobuf" * 10)
    proc = run_cli(*_file_model_args(bad, tiny_squad))
    _assert_one_line_error(proc, str(bad), "ONNX")


def test_onnx_with_wrong_input_names(run_cli, tmp_path, tiny_squad):
    import onnx
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["b", 384])
        for n in ("ids", "mask", "types")
    ]
    outputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["b", 384])
        for n in ("output_start_logits", "output_end_logits")
    ]
    nodes = [
        helper.make_node("Identity", ["ids"], ["output_start_logits"]),
        helper.make_node("Identity", ["mask"], ["output_end_logits"]),
    ]
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs))
    path = tmp_path / "renamed.onnx"
    onnx.save(model, path)
    proc = run_cli(*_file_model_args(path, tiny_squad))
    _assert_one_line_error(proc, str(path), "input_ids")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"version": "1.1", "data": [{"title": "t", "paragraphs": [{"cont', "not valid JSON"),
        ('{"version": "1.1", "rows": []}', "'data' list"),
        (
            '{"data": [{"title": "t", "paragraphs": [{"context": "x", "qas": [{"id": "1"}]}]}]}',
            "qas[0]",
        ),
    ],
)
def test_truncated_or_malformed_squad(run_cli, tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"unused: the noop backend never reads the model")
    proc = run_cli("backend=noop", *_file_model_args(model, path))
    _assert_one_line_error(proc, str(path), needle)


@requires_shared_data()
def test_checksum_mismatch_in_mirror(run_cli, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((SHARED_DATA / "squad-v1.1-dev.json").read_bytes())
    data[1000] ^= 0x01
    (mirror / "dev-v1.1.json").write_bytes(bytes(data))
    model = tmp_path / "m.onnx"
    model.write_bytes(b"unused: the noop backend never reads the model")
    proc = run_cli(
        "backend=noop",
        "model=file",
        f"model.file={model}",
        "dataset=squad",
        f"assets.mirror={mirror}",
        "assets.offline=true",
        f"assets.cache_dir={tmp_path / 'cache'}",
    )
    _assert_one_line_error(proc, "dev-v1.1.json", "md5")
    assert not list((tmp_path / "cache").rglob("dev-v1.1.json"))  # nothing half-written kept
    shutil.rmtree(mirror)


def test_help_into_a_closed_pipe_is_quiet():
    """`--help | head -1`: the reader closes the pipe before we write; no traceback, exit 0."""
    cmd = [sys.executable, "-m", "bert_sweep", "--help"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # long before the interpreter has started and printed anything
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()[-2000:]
