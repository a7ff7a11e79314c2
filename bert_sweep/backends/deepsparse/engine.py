"""The DeepSparse engine as the worker runs it in deepsparse's venv: stdlib, numpy, deepsparse.

Loaded by path by bert_sweep/isolation/worker.py (`create(options)`); imports nothing of the
project, which is not installed in that venv.

Static shapes: deepsparse compiles an engine for one (batch, width). A batch `[b, w]` runs on the
engine of (batch_size, the smallest width bucket >= w): columns are padded with id 0, mask 0
(padding influences no real position, so those logits are exact) and a short batch's rows with
copies of its last row; the answer is cut back to `[b, w]`. Engines are kept per shape, and with
`precompile` every bucket is compiled in `load`, before loadgen's warm-up and timing.

`compile_model(path, ...)` rewrites the ONNX file at `path` with the fixed shapes (REFERENCE.md
§4: it broke a cached model), so each compile gets a private copy in a temp folder, removed
once the engine is built (or, after a kill, by the next worker that loads).
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time

import numpy as np

CANONICAL = ("input_ids", "input_mask", "segment_ids")
SCRATCH_PREFIX = "bert_sweep-deepsparse-"  # + "<worker pid>-": see _remove_stale_scratch


def create(options: dict) -> DeepsparseEngine:
    return DeepsparseEngine(options)


class DeepsparseEngine:
    def __init__(self, options: dict) -> None:
        import deepsparse  # the one engine import; fails here if the venv is broken

        self.deepsparse = deepsparse
        self.o = options
        self.batch_size = int(options["batch_size"])
        self.buckets = sorted(int(w) for w in options["width_buckets"])
        self.engines: dict[tuple[int, int], object] = {}
        self.compile_s: dict[str, float] = {}
        self.source = ""
        self.supported_ops = None

    def _kwargs(self) -> dict:
        o = self.o
        kwargs = {}
        if o.get("num_cores"):
            kwargs["num_cores"] = int(o["num_cores"])
        if o.get("num_streams"):
            kwargs["num_streams"] = int(o["num_streams"])
        if o.get("scheduler", "default") != "default":
            kwargs["scheduler"] = getattr(self.deepsparse.Scheduler, o["scheduler"])
        return kwargs

    def _bucket(self, w: int) -> int:
        return next((b for b in self.buckets if b >= w), w)

    def _engine(self, b: int, w: int):
        key = (b, w)
        engine = self.engines.get(key)
        if engine is None:
            scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
            try:
                copy = os.path.join(scratch, "model.onnx")
                shutil.copyfile(self.source, copy)  # compile_model rewrites its file in place
                t0 = time.perf_counter()
                engine = self.deepsparse.compile_model(
                    copy, batch_size=b, input_shapes=[[b, w]] * 3, **self._kwargs()
                )
                self.compile_s[f"{b}x{w}"] = round(time.perf_counter() - t0, 3)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            names = list(engine.input_names)
            self.order = [self.o["inputs"][n] for n in names]
            outs = list(engine.output_names)
            self.out_index = (outs.index(self.o["outputs"]["start"]),
                              outs.index(self.o["outputs"]["end"]))  # fmt: skip
            self.supported_ops = getattr(engine, "fraction_of_supported_ops", None)
            self.engines[key] = engine
        return engine

    def load(self, model_path: str) -> None:
        self.source = str(model_path)
        _remove_stale_scratch()
        if self.o.get("precompile", True):
            for w in self.buckets:
                self._engine(self.batch_size, w)

    def predict(self, input_ids, input_mask, segment_ids):
        b, w = input_ids.shape
        rows, width = max(b, self.batch_size), self._bucket(w)
        engine = self._engine(rows, width)
        given = {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}
        feed = []
        for name in self.order:
            x = np.zeros((rows, width), dtype=np.int64)
            x[:b, :w] = given[name]
            x[b:, :w] = given[name][b - 1]  # rows of a short batch: copies of its last row
            feed.append(x)
        out = engine.run(feed)
        start, end = out[self.out_index[0]], out[self.out_index[1]]
        return (np.asarray(start[:b, :w], dtype=np.float32),
                np.asarray(end[:b, :w], dtype=np.float32))  # fmt: skip

    def info(self) -> dict:
        return {
            "name": "deepsparse",
            "precision": "fp32",
            "engine_version": self.deepsparse.__version__,
            "model_path": self.source,
            "details": {
                "num_cores": self.o.get("num_cores") or "default",
                "num_streams": self.o.get("num_streams") or "default",
                "scheduler": self.o.get("scheduler", "default"),
                "width_buckets": self.buckets,
                "compile_s": dict(self.compile_s),
                "fraction_of_supported_ops": self.supported_ops,
                "numpy": np.__version__,
            },
        }

    def close(self) -> None:
        self.engines.clear()


def _remove_stale_scratch() -> None:
    """Model copies left by a worker killed mid-compile (SIGKILL runs no `finally`): a scratch
    folder is named by its worker's pid, and removed once that process is gone."""
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{SCRATCH_PREFIX}*-*")):
        pid = os.path.basename(folder)[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(folder, ignore_errors=True)
