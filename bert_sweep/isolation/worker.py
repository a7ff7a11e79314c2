"""The worker side of an out-of-process backend: stdlib and numpy only, so any interpreter runs it.

Why no project imports: the worker may run under another environment's Python (DeepSparse's venv
pins numpy < 2 and onnx < 1.15 and has no bert_sweep installed). The parent runs this file by
path (`<python> worker.py --fd N ...`), and the engine module is loaded by path too
(importlib's spec_from_file_location, no sys.path edit); a worker in the project's own
interpreter is a multiprocessing spawn child that imports it as `bert_sweep.isolation.worker`
and builds the project backend in `ProjectEngine`.

The channel (see isolation/client.py for the parent): small pickled control dicts over a
multiprocessing Connection (a pipe or a socketpair); batches live in a memory-mapped file the
parent created (in /dev/shm) and names in an `attach` message. For a batch of n = b x w
positions the file holds, from offset 0: input_ids, input_mask, segment_ids (int64, n each),
then start and end logits (float32, n each): `layout(b, w)`.

The worker dies with its parent (PR_SET_PDEATHSIG, then the parent-still-alive check), blocks
in recv (never polls), exits on `close` or when the channel ends, and writes its stdout/stderr
and faulthandler's dump of a native crash to the log file the parent names.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import importlib.util
import mmap
import os
import signal
import sys
import traceback

import numpy as np

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
INPUTS = ("input_ids", "input_mask", "segment_ids")


def layout(b: int, w: int) -> dict[str, tuple[int, type]]:
    """Byte offset and dtype of each array of a `[b, w]` batch in the shared file."""
    n = b * w
    return {
        "input_ids": (0, np.int64),
        "input_mask": (8 * n, np.int64),
        "segment_ids": (16 * n, np.int64),
        "start": (24 * n, np.float32),
        "end": (28 * n, np.float32),
    }


def nbytes(b: int, w: int) -> int:
    return 32 * b * w


def views(buffer, b: int, w: int) -> dict[str, np.ndarray]:
    return {
        k: np.ndarray((b, w), dtype=dt, buffer=buffer, offset=off)
        for k, (off, dt) in layout(b, w).items()
    }


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the channel's EOF still ends the worker once the parent is gone
    if os.getppid() != parent_pid:
        os._exit(1)


def redirect_output(log_path: str) -> None:
    """fd 1 and 2 (the engine's native prints included) into the log; faulthandler too."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    faulthandler.enable(file=sys.stderr, all_threads=False)
    print(f"bert_sweep worker pid {os.getpid()} ({sys.executable})", file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Shared:
    """The parent's memory-mapped batch file, attached by path."""

    def __init__(self) -> None:
        self.map = None

    def attach(self, path: str, size: int) -> None:
        self.detach()
        with open(path, "r+b") as fh:
            self.map = mmap.mmap(fh.fileno(), size)

    def detach(self) -> None:
        if self.map is not None:
            with contextlib.suppress(BufferError):  # an engine still holds a view: it goes later
                self.map.close()
            self.map = None


def serve(conn, engine) -> None:
    """Answer the parent's requests until `close` or the end of the channel."""
    shared = _Shared()
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return  # the parent is gone
            op = msg.get("op")
            try:
                if op == "close":
                    conn.send({"ok": True})
                    return
                if op == "load":
                    engine.load(msg["model_path"])
                    reply = {"ok": True, "info": engine.info(), "pid": os.getpid()}
                elif op == "attach":
                    shared.attach(msg["path"], msg["size"])
                    reply = {"ok": True}
                elif op == "predict":
                    v = views(shared.map, msg["b"], msg["w"])
                    start, end = engine.predict(v["input_ids"], v["input_mask"], v["segment_ids"])
                    v["start"][...] = start
                    v["end"][...] = end
                    del v
                    reply = {"ok": True}
                elif op == "info":
                    reply = {"ok": True, "info": engine.info()}
                else:
                    reply = {"ok": False, "error": f"unknown request {op!r}"}
            except Exception as exc:  # reported to the parent as one line; full text in the log
                traceback.print_exc()
                sys.stderr.flush()
                reply = {"ok": False, "error": _one_line(exc)}
            conn.send(reply)
    finally:
        try:
            engine.close()
        finally:
            shared.detach()
            conn.close()


class ProjectEngine:
    """A project backend (any registered Backend) run in-process here: the same-interpreter
    worker of `backend.isolated=true`."""

    def __init__(self, config) -> None:
        from bert_sweep.harness.runner import make_backend

        self.backend = make_backend(config)

    def load(self, model_path: str) -> None:
        from pathlib import Path

        self.backend.load(Path(model_path))

    def predict(self, input_ids, input_mask, segment_ids):
        from bert_sweep.backends.base import Batch

        return self.backend.predict(Batch(input_ids, input_mask, segment_ids))

    def info(self) -> dict:
        import dataclasses

        return dataclasses.asdict(self.backend.info())

    def close(self) -> None:
        self.backend.close()


def spawned_main(conn, parent_pid: int, log_path: str, config) -> None:
    """Entry point of a same-interpreter worker (multiprocessing spawn child)."""
    die_with_parent(parent_pid)
    redirect_output(log_path)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the run stops
    serve(conn, ProjectEngine(config))


def load_engine_module(path: str):
    spec = importlib.util.spec_from_file_location("bert_sweep_worker_engine", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    """Entry point of a worker under another interpreter:
    `worker.py --fd N --parent-pid P --log PATH --engine FILE` (engine options arrive in `load`
    as `msg["options"]` and are handed to the module's `create(options)`)."""
    import argparse
    from multiprocessing.connection import Connection

    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--engine", required=True)
    args = parser.parse_args(argv)
    die_with_parent(args.parent_pid)
    redirect_output(args.log)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(args.fd)
    try:
        msg = conn.recv()  # the first message: the engine's options
    except (EOFError, OSError):
        return 1
    try:
        engine = load_engine_module(args.engine).create(msg["options"])
    except Exception as exc:
        traceback.print_exc()
        conn.send({"ok": False, "error": _one_line(exc)})
        return 1
    conn.send({"ok": True})
    serve(conn, engine)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
