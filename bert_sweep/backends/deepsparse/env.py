"""DeepSparse's own venv: `<cache_dir>/envs/deepsparse-1.8.0`, created on first use or by
`python -m bert_sweep.backends.deepsparse.env [--cache-dir DIR] [--rebuild] [--offline]`.

Why a venv of its own: deepsparse 1.8.0 pins numpy < 2 and onnx < 1.15 (REFERENCE.md §4). It is
made from the base interpreter of the project's venv (deepsparse needs Python < 3.12) with
`pip install deepsparse==1.8.0`, under a file lock, and a ready-marker (the installed versions)
is written last: a folder without the marker is a creation that was interrupted, and is removed
and rebuilt, never used. Nothing of the project is installed there: the worker and the engine
module are run by path (bert_sweep/isolation/worker.py, backends/deepsparse/engine.py) and import
only the stdlib, numpy and deepsparse.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from bert_sweep.atomic import write_json_atomic
from bert_sweep.errors import BackendUnavailableError, BertSweepError
from bert_sweep.locks import file_lock

PACKAGE = "deepsparse"
VERSION = "1.8.0"
REQUIREMENT = f"{PACKAGE}=={VERSION}"
ENV_NAME = f"{PACKAGE}-{VERSION}"
MARKER = "bert_sweep-ready.json"  # written last: its presence means the env is complete
PIP_LOG = "bert_sweep-pip.log"
MAX_PYTHON = (3, 12)  # deepsparse 1.8 has wheels for Python < 3.12
RECORDED = ("deepsparse", "numpy", "onnx")


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "bert_sweep"  # conf/assets/default.yaml's cache_dir


def env_dir(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "envs" / ENV_NAME


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def fix_hint(env: Path) -> str:
    return f"python -m bert_sweep.backends.deepsparse.env --rebuild --cache-dir {env.parents[1]}"


def read_marker(env: Path) -> dict | None:
    """The ready-marker's versions, or None when the env is absent or was never finished."""
    try:
        data = json.loads((env / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not env_python(env).exists():
        return None
    return data


def base_python() -> Path:
    """The interpreter the project's venv was made from (a venv's python is a link into it)."""
    base = Path(getattr(sys, "_base_executable", "") or sys.executable)
    if sys.version_info[:2] >= MAX_PYTHON:
        raise BackendUnavailableError(
            f"backend=deepsparse: {REQUIREMENT} needs Python < "
            f"{'.'.join(map(str, MAX_PYTHON))}; this is {sys.version.split()[0]} ({base})"
        )
    return base


def _say(progress: bool, text: str) -> None:
    if progress:
        print(f"[deepsparse env] {text}", file=sys.stderr, flush=True)


def _site_versions(env: Path) -> dict[str, str]:
    """Versions installed in the env, read from its site-packages metadata (no subprocess)."""
    site = sorted(env.glob("lib/python*/site-packages"))
    found = {d.metadata["Name"].lower(): d.version for d in metadata.distributions(path=site)}
    return {name: found[name] for name in RECORDED if name in found}


def _pip_reason(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no pip log"
    errors = [ln.strip() for ln in lines if ln.strip().startswith("ERROR:")]
    return errors[-1] if errors else (lines[-1].strip() if lines else "pip wrote nothing")


def _run(cmd: list[str], log: Path) -> int:
    with open(log, "ab") as fh:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh).returncode


def check_import(env: Path) -> None:
    """BackendUnavailableError (one line, naming the folder and the fix) unless the env's python
    imports deepsparse."""
    code = subprocess.run(
        [str(env_python(env)), "-I", "-c", "import deepsparse"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ).returncode
    if code != 0:
        raise BackendUnavailableError(
            f"backend=deepsparse: the environment {env} is broken (its python cannot import "
            f"deepsparse, exit code {code}); rebuild it: {fix_hint(env)}"
        )


def _build(env: Path, offline: bool, progress: bool) -> dict:
    python = base_python()
    if env.exists():
        _say(progress, f"{env}: no ready-marker (an interrupted creation): removing it")
        shutil.rmtree(env)
    t0 = time.monotonic()
    _say(progress, f"creating the venv {env} from {python}")
    env.parent.mkdir(parents=True, exist_ok=True)
    env.mkdir()
    log = env / PIP_LOG
    if _run([str(python), "-m", "venv", str(env)], log) != 0:
        raise BackendUnavailableError(
            f"backend=deepsparse: {python} -m venv {env} failed: {_pip_reason(log)}"
        )
    _say(progress, f"installing {REQUIREMENT} (about 500 MB with numpy<2, onnx<1.15; ~1 min)")
    pip = [str(env_python(env)), "-m", "pip", "install", "--disable-pip-version-check"]
    if offline:
        pip.append("--no-index")  # assets.offline: only wheels already on this machine
    if _run([*pip, REQUIREMENT], log) != 0:
        where = "without the index (assets.offline=true)" if offline else "from the package index"
        raise BackendUnavailableError(
            f"backend=deepsparse: pip could not install {REQUIREMENT} {where} into {env}: "
            f"{_pip_reason(log)} (index unreachable or package missing; log {log})"
        )
    check_import(env)
    versions = _site_versions(env)
    marker = {
        "requirement": REQUIREMENT,
        "python": str(python),
        "python_version": sys.version.split()[0],
        "versions": versions,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "build_s": round(time.monotonic() - t0, 1),
    }
    write_json_atomic(env / MARKER, marker)  # last: the env is complete
    _say(progress, f"ready in {marker['build_s']:g} s: {versions}")
    return marker


def ensure_env(
    cache_dir: str | Path | None,
    offline: bool = False,
    progress: bool = True,
    rebuild: bool = False,
) -> tuple[Path, dict]:
    """(the env's python, its marker): the ready env, built first when absent or half-built."""
    env = env_dir(cache_dir)
    marker = None if rebuild else read_marker(env)
    if marker is None:
        with file_lock(env.parent / f"{ENV_NAME}.lock"):
            # another process may have finished it while this one waited for the lock
            marker = None if rebuild else read_marker(env)
            if marker is None:
                if rebuild and env.exists():
                    _say(progress, f"--rebuild: removing {env}")
                    shutil.rmtree(env)
                marker = _build(env, offline, progress)
    return env_python(env), marker


def ready_env(cache_dir: str | Path | None) -> tuple[Path, dict]:
    """The env as it is (the loadgen child's view): BackendUnavailableError when not ready."""
    env = env_dir(cache_dir)
    marker = read_marker(env)
    if marker is None:
        raise BackendUnavailableError(
            f"backend=deepsparse: no ready environment at {env}; create it: {fix_hint(env)}"
        )
    return env_python(env), marker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bert_sweep.backends.deepsparse.env",
        description=f"Create the venv that backend=deepsparse runs in ({REQUIREMENT}).",
    )
    parser.add_argument("--cache-dir", default=str(default_cache_dir()))
    parser.add_argument("--rebuild", action="store_true", help="remove and create it again")
    parser.add_argument("--offline", action="store_true", help="pip --no-index")
    args = parser.parse_args(argv)
    try:
        python, marker = ensure_env(args.cache_dir, args.offline, True, args.rebuild)
    except BertSweepError as exc:
        print(f"bert_sweep: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"bert_sweep: error: {args.cache_dir}: {exc}", file=sys.stderr)
        return 2
    print(f"{python.parent.parent} ready: {json.dumps(marker['versions'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
