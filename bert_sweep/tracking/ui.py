"""The MLflow UI on a bert_sweep store: `python -m bert_sweep.tracking.ui` (or plain `mlflow ui`).

`serve()` starts the UI in its own process group and, on exit, stops the whole group: `mlflow ui`
runs its web workers as children that outlive a SIGTERM to the parent by ~15 s, so stopping only
the parent would leave them holding the port. Used by the browser test; `main()` is for people.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bert_sweep.storage_url import sqlite_path

DEFAULT_STORE = "sqlite:///outputs/mlflow.db"  # conf/tracking/mlflow.yaml, from the project root


@dataclass(frozen=True)
class UiServer:
    url: str
    pgid: int  # the UI's process group (its leader's pid): every process serve() started


def ui_command(uri: str, host: str, port: int, artifacts: str | None = None) -> list[str]:
    """The `mlflow ui` command line for a store (run with this interpreter's mlflow).
    `artifacts`: where the server keeps artifacts clients upload through it (a team server);
    runs of the default sqlite store name their own artifact folder and do not need it."""
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    cmd += ["--host", host, "--port", str(port)]
    if artifacts:
        cmd += ["--artifacts-destination", artifacts]
    return cmd


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the UI's process group, give the parent 10 s, then SIGKILL whatever is left."""
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # the parent is gone; its workers may not be
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def serve(
    uri: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    log_file: Path | None = None,
    timeout_s: float = 120.0,
    artifacts: str | None = None,
) -> Iterator[UiServer]:
    """Run the MLflow UI on `uri` until the block ends; yields it once it answers."""
    port = port or free_port(host)
    url = f"http://{host}:{port}"
    log = open(log_file, "wb") if log_file else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        ui_command(uri, host, port, artifacts),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as a whole
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not _answers(f"{url}/health"):
            if proc.poll() is not None:
                code = proc.returncode
                raise RuntimeError(f"mlflow ui exited with code {code} (log: {log_file})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"mlflow ui did not answer on {url} within {timeout_s:.0f} s")
            time.sleep(0.5)  # the server has no readiness signal but its health endpoint
        yield UiServer(url=url, pgid=proc.pid)
    finally:
        _stop_group(proc)
        if log_file:
            log.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bert_sweep.tracking.ui",
        description="Open the MLflow UI on bert_sweep's tracking store.",
    )
    parser.add_argument("--uri", default=DEFAULT_STORE, help=f"store URI (default {DEFAULT_STORE})")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    db = sqlite_path(args.uri)
    if db is not None and not db.is_file():
        print(f"bert_sweep: error: --uri {args.uri}: no store at {db.absolute()}", file=sys.stderr)
        sys.exit(2)
    print(f"MLflow UI on http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
    os.execv(sys.executable, ui_command(args.uri, args.host, args.port))


if __name__ == "__main__":
    main()
