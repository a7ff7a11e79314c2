"""Packaging: a wheel build has nothing to warn about and holds every file the package reads.

`conf/` (Hydra's config groups, at the repository root for users) is installed as the package
`bert_sweep.conf`, and the synthetic generator's word pools and templates are package data
(bert_sweep/embedded/data/): an installed wheel must hold them all, and setuptools must not print
a warning per folder (what `pip install -e .` used to show: ~150 lines). The wheel is built from a
copy of the working tree, so no stale `build/` folder of the checkout can hide a missing file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
_SKIP = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "outputs", "multirun", "*.egg-info", "__pycache__", ".*cache"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[zipfile.ZipFile, str]:
    """(the built wheel, pip's and setuptools' output while building it)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_SKIP)
    done = subprocess.run(
        [*PIP_WHEEL, "-w", str(tmp / "out"), "."],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    (path,) = (tmp / "out").glob("bert_sweep-*.whl")
    return zipfile.ZipFile(path), output


def test_wheel_build_has_nothing_to_warn_about(wheel):
    _, output = wheel
    assert "absent from the `packages` configuration" not in output
    warnings = [line for line in output.splitlines() if "Warning" in line]
    assert warnings == [], "\n".join(warnings)


def test_wheel_holds_every_config_file(wheel):
    archive, _ = wheel
    names = set(archive.namelist())
    conf = sorted(p.relative_to(ROOT / "conf") for p in (ROOT / "conf").rglob("*.yaml"))
    assert conf, "no conf/**/*.yaml found"
    missing = [str(p) for p in conf if f"bert_sweep/conf/{p.as_posix()}" not in names]
    assert missing == []


def test_wheel_holds_every_module_and_the_synthetic_data(wheel):
    archive, _ = wheel
    names = set(archive.namelist())
    data = sorted((ROOT / "bert_sweep" / "embedded" / "data").iterdir())
    assert {p.suffix for p in data} >= {".json", ".txt"}
    files = [*data, *(ROOT / "bert_sweep").rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]
    files.append(ROOT / "bert_sweep" / "backends" / "torch" / "bert_large_config.json")
    missing = [
        str(p.relative_to(ROOT))
        for p in files
        if "__pycache__" not in p.parts and p.relative_to(ROOT).as_posix() not in names
    ]
    assert missing == []
