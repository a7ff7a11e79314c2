"""The parent side of an out-of-process backend: start the worker, send batches, report its death.

Process layout: the pipeline prepares the backend in the run's process; each loadgen test runs in
a fresh spawned child (harness.runner); with isolation that child's `backend.load` starts one
worker (a grandchild of the run) and every `predict` goes to it. Two ways to start it:
- `spawn_project(config)`: the same interpreter, a multiprocessing spawn child that imports the
  project and runs the backend in-process there (any backend, `backend.isolated=true`);
- `exec_engine(python, engine_file, options)`: another interpreter (an engine's own venv) runs
  isolation/worker.py by path with an engine module loaded by path; nothing of the project is
  imported there.

Channel: control dicts (a few hundred bytes) over a multiprocessing Connection; the arrays go
through a memory-mapped file in /dev/shm (int64 [b, w] x3 in, float32 [b, w] x2 out, one copy
each way). The file is unlinked as soon as the worker has mapped it, so a killed run leaves
nothing behind; it grows (a new file) when a batch does not fit.

Concurrency: one worker per loaded backend and a lock around each request, so the SUT's worker
threads (harness.workers) take turns in the engine; their batching and response assembly still
overlap with the other thread's inference. The engine inside uses its own thread settings.

Death: the worker dies with the loadgen child (PR_SET_PDEATHSIG; the child itself dies with the
run). When the worker dies (native abort, segfault, exit), the request fails with one line
naming the backend, the signal or exit code and the worker's last stderr line, whose whole text
stays in the log file (`backend_worker.log` in the test's output folder).
"""

from __future__ import annotations

import mmap
import os
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from bert_sweep.errors import BackendUnavailableError, BertSweepError
from bert_sweep.isolation import worker as wire

WORKER_FILE = Path(wire.__file__).resolve()
LOG_NAME = "backend_worker.log"
CLOSE_TIMEOUT_S = 10.0
# bytes of the first shared file: batch 32 x 384 positions
INITIAL_BYTES = wire.nbytes(32, 384)


class WorkerError(BertSweepError):
    """An out-of-process backend's worker died or could not start; the message is one line."""


def _shm_dir() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def last_stderr_line(log_path: Path) -> str:
    """The last line the worker wrote before faulthandler's crash dump (or the dump's title)."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 65536))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("Fatal Python error:"):
            return lines[i - 1] if i else line
    return lines[-1] if lines else ""


class EngineWorker:
    """One worker process and its channel; thread-safe (one request at a time)."""

    def __init__(self, backend: str, log_path: Path) -> None:
        self.backend = backend
        self.log_path = Path(log_path)
        self.conn = None
        self.process = None  # multiprocessing.Process or subprocess.Popen
        self.pid: int | None = None
        self._lock = threading.Lock()
        self._map: mmap.mmap | None = None
        self._capacity = 0
        self.dead: str | None = None  # the one-line reason once the worker has died

    # -- start ------------------------------------------------------------------------------
    def _prepare_log(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")

    def spawn_project(self, config) -> None:
        """Start a same-interpreter worker running the project backend `config` (not isolated)."""
        import multiprocessing

        self._prepare_log()
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=wire.spawned_main,
            args=(child_conn, os.getpid(), str(self.log_path), config),
            name=f"backend-worker-{self.backend}",
        )
        process.start()
        child_conn.close()  # the worker holds the only other end: EOF when it dies
        self.conn, self.process, self.pid = parent_conn, process, process.pid

    def exec_engine(self, python: Path, engine_file: Path, options: dict) -> None:
        """Start a worker under `python` (another venv) running `engine_file`'s engine."""
        from multiprocessing.connection import Connection

        self._prepare_log()
        ours, theirs = socket.socketpair()
        cmd = [
            str(python),
            "-I",  # isolated mode: no user site, no PYTHONPATH, no cwd on sys.path
            str(WORKER_FILE),
            "--fd",
            str(theirs.fileno()),
            "--parent-pid",
            str(os.getpid()),
            "--log",
            str(self.log_path),
            "--engine",
            str(Path(engine_file).resolve()),
        ]
        try:
            with open(self.log_path, "ab") as log:
                process = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(theirs.fileno(),),
                    close_fds=True,
                )
        except OSError as exc:
            ours.close()
            raise BackendUnavailableError(
                f"backend={self.backend}: cannot start its worker {python} ({exc.strerror})"
            ) from None
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.process, self.pid = process, process.pid
        self.request({"options": options}, "start")

    # -- requests ---------------------------------------------------------------------------
    def _exitcode(self, wait_s: float) -> int | None:
        p = self.process
        if p is None:
            return None
        if isinstance(p, subprocess.Popen):
            try:
                return p.wait(wait_s)
            except subprocess.TimeoutExpired:
                return None
        p.join(wait_s)
        return p.exitcode

    def _died(self, during: str) -> WorkerError:
        code = self._exitcode(5.0)
        line = last_stderr_line(self.log_path)
        said = f"; last stderr line: {line}" if line else "; it wrote nothing to stderr"
        self.dead = (
            f"backend={self.backend}: worker process {self.pid} died during {during} "
            f"({describe_exit(code)}){said} (log {self.log_path})"
        )
        return WorkerError(self.dead)

    def request(self, msg: dict, during: str) -> dict:
        """Send one request and wait (blocking, no polling) for its reply."""
        if self.dead:
            raise WorkerError(self.dead)
        if self.conn is None:
            raise WorkerError(f"backend={self.backend}: worker not started (load first)")
        try:
            self.conn.send(msg)
            reply = self.conn.recv()
        except (EOFError, OSError):
            raise self._died(during) from None
        if not reply.get("ok"):
            raise WorkerError(f"backend={self.backend}: {during} failed: {reply.get('error')}")
        return reply

    def _ensure_capacity(self, size: int) -> None:
        if size <= self._capacity:
            return
        size = max(size, INITIAL_BYTES, 2 * self._capacity)
        fd, path = tempfile.mkstemp(prefix="bert_sweep-batch-", dir=_shm_dir())
        try:
            os.ftruncate(fd, size)
            new = mmap.mmap(fd, size)
            try:
                self.request({"op": "attach", "path": path, "size": size}, "attach")
            except BaseException:
                new.close()
                raise
        finally:
            os.close(fd)
            os.unlink(path)  # both sides hold a mapping; the name is no longer needed
        if self._map is not None:
            self._map.close()
        self._map, self._capacity = new, size

    def predict(self, input_ids, input_mask, segment_ids) -> tuple[np.ndarray, np.ndarray]:
        b, w = input_ids.shape
        with self._lock:
            self._ensure_capacity(wire.nbytes(b, w))
            v = wire.views(self._map, b, w)
            v["input_ids"][...] = input_ids
            v["input_mask"][...] = input_mask
            v["segment_ids"][...] = segment_ids
            self.request({"op": "predict", "b": b, "w": w}, "predict")
            out = v["start"].copy(), v["end"].copy()
            del v
            return out

    def call(self, msg: dict, during: str) -> dict:
        with self._lock:
            return self.request(msg, during)

    # -- stop -------------------------------------------------------------------------------
    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not within CLOSE_TIMEOUT_S."""
        with self._lock:
            if self.conn is not None:
                if not self.dead:
                    try:
                        self.conn.send({"op": "close"})
                        self.conn.recv()
                    except (EOFError, OSError):
                        pass
                self.conn.close()
                self.conn = None
            if self.process is not None:
                if self._exitcode(CLOSE_TIMEOUT_S) is None:
                    self.process.kill()
                    self._exitcode(CLOSE_TIMEOUT_S)
                self.process = None
            if self._map is not None:
                self._map.close()
                self._map, self._capacity = None, 0
