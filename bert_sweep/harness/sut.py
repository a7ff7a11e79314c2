"""A batching System Under Test on a small worker pool.

Loadgen calls `issue_queries` on its own thread and measures from that call, so it only enqueues;
`workers` threads block on one `queue.Queue`, form batches, run the backend and complete the
samples. Queue items are lists of QuerySample: an Offline chunk of `batch_size` samples, or the
samples of one Server/SingleStream/MultiStream query. A worker takes the first waiting item and
fills its batch from what follows; an item larger than the room left is split and the rest put
back, so no sample ever waits behind a busy worker.

Waiting to fill a batch only pays in Server, where queries arrive on their own schedule: there a
worker waits at most `batch_timeout_ms` (a FlushQueries call ends the wait). In SingleStream and
MultiStream loadgen sends the next query only after the current one completes, so waiting could
never add a sample; the batcher takes what is queued and runs. Offline chunks are already full.

Each sample's response is float32 `[seq, 2]` row-major, (start, end) interleaved: 3,072 bytes
for seq 384. With `trim_padding` a batch is cut to its longest real length before predict, and
every position past a sample's own real length is set to -10000.0, so a sample's bytes do not
depend on its batch-mates. This is exact for BERT with an attention mask: padded positions
influence no real position and can never be part of an answer.

A failing batch must not hang loadgen: the first error is recorded, that batch and every later
one is completed with empty responses (no more predict calls), and the runner raises afterwards.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bert_sweep.backends.base import Backend
from bert_sweep.errors import field_error, one_line
from bert_sweep.harness.qsl import FeatureQSL
from bert_sweep.harness.spec import SCENARIOS

PAD_LOGIT = -10000.0
MEASURE_MIN_S = 0.2  # shortest warm-up timing: well above timer and scheduler noise
_STOP = object()  # one per worker: leave the loop
_FLUSH = object()  # FlushQueries: stop waiting for more samples


@dataclass
class SutStats:
    """Counters for results.json: how well batches filled and how busy the engine was."""

    batches: int = 0
    samples: int = 0
    failed_samples: int = 0
    max_batch: int = 0
    predict_s: float = 0.0
    tokens_computed: int = 0  # batch × (trimmed) width actually sent to the backend
    tokens_real: int = 0  # sum of real lengths
    timed_out_batches: int = 0  # Server: released by batch_timeout_ms, neither full nor flushed

    @property
    def mean_batch(self) -> float:
        return self.samples / self.batches if self.batches else 0.0


class BatchingSUT:
    """Loadgen SUT callbacks (`issue_queries`, `flush_queries`) backed by a worker pool."""

    def __init__(
        self,
        backend: Backend,
        qsl: FeatureQSL,
        scenario: str,
        batch_size: int = 1,
        workers: int = 1,
        batch_timeout_ms: float = 2.0,
        trim_padding: bool = False,
        sort_by_length: bool = False,
    ) -> None:
        if scenario not in SCENARIOS:
            raise field_error("scenario", scenario, f"one of {list(SCENARIOS)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise field_error("batch_size", batch_size, "an integer >= 1")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise field_error("workers", workers, "an integer >= 1")
        if not isinstance(batch_timeout_ms, int | float) or not 0 <= batch_timeout_ms < 60_000:
            raise field_error("batch_timeout_ms", batch_timeout_ms, "a number of ms in [0, 60000)")
        self.backend = backend
        self.qsl = qsl
        self.scenario = scenario
        self.batch_size = batch_size
        self.workers = workers
        self.trim_padding = bool(trim_padding)
        self.sort_by_length = bool(sort_by_length)
        self._wait_s = batch_timeout_ms / 1000.0 if scenario == "Server" else 0.0
        self._queue: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.stats = SutStats()
        self.error: BaseException | None = None
        self.error_message: str | None = None
        self.error_traceback: str | None = None

    # -- loadgen callbacks (loadgen's threads: enqueue only) ---------------------------------
    def issue_queries(self, samples: Sequence) -> None:
        if self.scenario != "Offline":
            self._queue.put(list(samples))
            return
        if self.sort_by_length:
            index = np.fromiter((s.index for s in samples), np.int64, len(samples))
            order = np.argsort(self.qsl.lengths[index], kind="stable")
            samples = [samples[i] for i in order]
        for lo in range(0, len(samples), self.batch_size):
            self._queue.put(samples[lo : lo + self.batch_size])

    def flush_queries(self) -> None:
        for _ in range(self.workers):
            self._queue.put(_FLUSH)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        for i in range(self.workers):
            thread = threading.Thread(target=self._worker, name=f"bert-sut-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float | None = 30.0) -> None:
        """Tell every worker to finish and wait for them (after loadgen's StartTest returned)."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = [t for t in self._threads if t.is_alive()]

    def construct(self):
        """Register with loadgen; returns the handle for StartTest and DestroySUT."""
        import mlperf_loadgen as lg

        return lg.ConstructSUT(self.issue_queries, self.flush_queries)

    # -- workers ------------------------------------------------------------------------------
    def _take(self, pending: list, item: list) -> None:
        room = self.batch_size - len(pending)
        pending.extend(item[:room])
        if len(item) > room:
            self._queue.put(item[room:])

    def _next_batch(self) -> tuple[list, bool]:
        """Block for the first item, then fill up; returns (samples, stop_requested)."""
        while True:
            item = self._queue.get()
            if item is _STOP:
                return [], True
            if item is not _FLUSH:
                break
        pending: list = []
        self._take(pending, item)
        deadline = time.monotonic() + self._wait_s
        while len(pending) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get(False)
                )
            except queue.Empty:
                if self._wait_s > 0:
                    with self._lock:
                        self.stats.timed_out_batches += 1
                break
            if item is _STOP:
                return pending, True
            if item is _FLUSH:
                break
            self._take(pending, item)
        return pending, False

    def _worker(self) -> None:
        while True:
            samples, stop = self._next_batch()
            if samples:
                self._run_batch(samples)
            if stop:
                return

    def _run_batch(self, samples: list) -> None:
        import mlperf_loadgen as lg

        ids = [s.id for s in samples]
        try:
            if self.error is not None:
                raise _Skipped
            index = np.fromiter((s.index for s in samples), np.int64, len(samples))
            width = None
            if self.trim_padding:
                width = max(1, int(self.qsl.lengths[index].max()))
            batch = self.qsl.batch(index, width)
            t0 = time.perf_counter()
            start, end = self.backend.predict(batch)
            elapsed = time.perf_counter() - t0
            out = self._assemble(start, end, index, batch.input_ids.shape[1])
        except Exception as exc:
            if not isinstance(exc, _Skipped):
                self._record(exc)
            with self._lock:
                self.stats.failed_samples += len(ids)
            lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])
            return
        row = out.strides[0]
        base = out.ctypes.data
        responses = [lg.QuerySampleResponse(i, base + k * row, row) for k, i in enumerate(ids)]
        lg.QuerySamplesComplete(responses)  # loadgen copies the bytes before returning
        del out
        with self._lock:
            stats = self.stats
            stats.batches += 1
            stats.samples += len(ids)
            stats.max_batch = max(stats.max_batch, len(ids))
            stats.predict_s += elapsed
            stats.tokens_computed += len(ids) * batch.input_ids.shape[1]
            stats.tokens_real += int(self.qsl.lengths[index].sum())

    def measure_rate(
        self, batches: int, size: int | None = None, min_seconds: float = MEASURE_MIN_S
    ) -> float:
        """Samples/s of this SUT's batch path (gather, predict, assemble) without loadgen.

        Sets an Offline/Server target_qps (or a stream scenario's expected latency) before a
        test, so it times what the test runs: batches formed as the test forms them (`size`
        samples, a stream query, split at `batch_size`; Offline in length order when
        `sort_by_length`, else in a random order as loadgen issues them), in a fixed shuffled
        order of batches so lengths are representative. One untimed small batch warms the
        session up; then at least `batches` batches and at least `min_seconds` of them: a
        backend that takes microseconds per batch (noop) is timed over many calls, not one
        call's noise and first-touch costs.
        """
        import mlperf_loadgen as lg

        n = len(self.qsl)
        size = max(1, min(size or self.batch_size, self.batch_size, n))
        rng = np.random.default_rng(0)
        # loadgen issues samples in a random order; a sorted Offline query is batched by length
        order = rng.permutation(n)
        if self.sort_by_length and self.scenario == "Offline":
            order = np.argsort(self.qsl.lengths, kind="stable")
        chunks = [order[lo : lo + size] for lo in range(0, n - size + 1, size)]
        chunks = [chunks[i] for i in rng.permutation(len(chunks))]

        def run(index: np.ndarray) -> None:
            width = max(1, int(self.qsl.lengths[index].max())) if self.trim_padding else None
            batch = self.qsl.batch(index, width)
            start, end = self.backend.predict(batch)
            out = self._assemble(start, end, index, batch.input_ids.shape[1])
            row = out.strides[0]
            [lg.QuerySampleResponse(k, out.ctypes.data + k * row, row) for k in range(len(index))]

        run(chunks[0][:4])  # untimed: session warm-up, a few samples are enough
        done = samples = 0
        t0 = time.perf_counter()
        while True:
            index = chunks[done % len(chunks)]
            run(index)
            done += 1
            samples += len(index)
            elapsed = time.perf_counter() - t0
            if done >= max(1, batches) and elapsed >= min_seconds:
                return samples / elapsed

    def _assemble(self, start, end, index: np.ndarray, width: int) -> np.ndarray:
        """Interleave (start, end) into `[n, seq, 2]` float32.

        When trimming, every position past a sample's own real length gets PAD_LOGIT (not only
        those past the batch width), so a sample's bytes do not depend on its batch-mates.
        """
        n = len(index)
        start = np.asarray(start, dtype=np.float32)
        end = np.asarray(end, dtype=np.float32)
        if start.shape != (n, width) or end.shape != (n, width):
            raise ValueError(
                f"backend returned logits of shapes {start.shape} and {end.shape}, "
                f"expected ({n}, {width}) each"
            )
        seq = self.qsl.seq_len
        if not self.trim_padding:
            out = np.empty((n, seq, 2), dtype=np.float32)
            out[:, :, 0] = start
            out[:, :, 1] = end
            return out
        out = np.full((n, seq, 2), PAD_LOGIT, dtype=np.float32)
        real = np.arange(width)[None, :] < self.qsl.lengths[index][:, None]
        np.copyto(out[:, :width, 0], start, where=real)
        np.copyto(out[:, :width, 1], end, where=real)
        return out

    def _record(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
                self.error_message = one_line(exc, with_type=True, first_line=True)
                self.error_traceback = "".join(
                    traceback.format_exception(type(exc), exc, exc.__traceback__)
                )


class _Skipped(Exception):
    """Internal: an earlier batch failed, so this one is completed empty without predict."""


__all__ = ["PAD_LOGIT", "BatchingSUT", "SutStats"]
