"""Heavy engines are imported only by the backend that is chosen, and only where it runs.

`python -m bert_sweep --help` and a `backend=noop` run must not get slower as engines are added:
the parent process composes, validates and reports without importing any engine package
(engines load in the loadgen child). Checked on the real CLI: a wrapper runs `bert_sweep` as
`python -m` would and writes, at exit, which of the engine packages the process had imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

ENGINES = ("torch", "openvino", "nncf", "onnxruntime", "tensorrt", "deepsparse")

WRAPPER = """
import atexit, json, runpy, sys
if __name__ == "__main__":  # the loadgen child (spawn) re-imports this file: run only once
    out, engines = sys.argv[1], set(sys.argv[2].split(","))
    atexit.register(lambda: open(out, "w").write(json.dumps(
        sorted({m.split(".")[0] for m in sys.modules} & engines))))
    sys.argv = ["bert_sweep", *sys.argv[3:]]
    runpy.run_module("bert_sweep", run_name="__main__")
"""


def engines_imported(tmp_path, *args: str) -> tuple[list[str], subprocess.CompletedProcess]:
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER)
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, str(wrapper), str(out), ",".join(ENGINES), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(out.read_text()), proc


def test_help_imports_no_engine(tmp_path):
    found, proc = engines_imported(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "backend" in proc.stdout
    assert found == [], f"--help imported {found}"


def test_a_noop_run_imports_no_engine_in_the_parent(tmp_path):
    found, proc = engines_imported(
        tmp_path,
        "backend=noop",
        "profile=test",
        "tracking=none",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "results.json").is_file()
    assert found == [], f"a noop run imported {found} in the parent process"


def test_the_wrapper_sees_an_engine_when_one_is_imported(tmp_path):
    """The check can fail: a run whose parent does import an engine is reported as such."""
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(
        WRAPPER.replace('runpy.run_module("bert_sweep", run_name="__main__")', "import onnxruntime")
    )
    out = tmp_path / "modules.json"
    subprocess.run([sys.executable, str(wrapper), str(out), ",".join(ENGINES)], check=True)
    assert json.loads(out.read_text()) == ["onnxruntime"]
