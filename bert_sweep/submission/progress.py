"""Progress and time-left lines while the rerun's long stages run (over ten minutes in all).

The loadgen tests run in child processes that report nothing until they end, so the parent
prints from what it can observe: elapsed time, each stage's estimate (from the measured rate), and
for the accuracy stage the size of the accuracy log loadgen is writing (one ~6 KB hex entry per
sample, so its growth tracks the samples done). A daemon thread wakes on an Event with a timeout
(no busy wait) and prints one line per interval.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

# Bytes one BERT sample takes in mlperf_log_accuracy.json: 3,072 response bytes as hex plus the
# entry's JSON framing (`{ "seq_id" : ..., "qsl_idx" : ..., "data" : "..." },\n`).
ACCURACY_LOG_BYTES_PER_SAMPLE = 3072 * 2 + 48


def format_duration(seconds: float | None) -> str:
    """`1h02m`, `12m05s`, `40s`; '?' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Prints `[submit] <stage>: <elapsed> elapsed, about <left> left (<total> for the rest)`.

    `stages` maps each remaining stage to its estimated seconds (None = unknown); `stage()` runs
    one of them with a reporter thread and `update()` revises later estimates once a stage has
    measured something (the accuracy run's rate sets the performance run's length).
    """

    def __init__(
        self,
        stages: dict[str, float | None],
        interval_s: float = 30.0,
        stream: TextIO | None = None,
    ) -> None:
        self.estimates = dict(stages)
        self.interval_s = interval_s
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.lines: list[str] = []

    def update(self, stage: str, estimate_s: float | None) -> None:
        self.estimates[stage] = estimate_s

    def say(self, text: str) -> None:
        line = f"[submit] {text}"
        self.lines.append(line)
        print(line, file=self.stream, flush=True)

    def _later(self, stage: str) -> float | None:
        names = list(self.estimates)
        rest = names[names.index(stage) + 1 :] if stage in names else []
        values = [self.estimates[n] for n in rest]
        return None if any(v is None for v in values) else sum(values)

    def _left(
        self, stage: str, elapsed: float, fraction: float | None, since: tuple[float, float] | None
    ) -> float | None:
        """Time left: from the rate of progress since it was first seen (a stage may spend
        minutes on setup, such as building a model, before its samples start), else from the
        stage's estimate."""
        if fraction is not None and since is not None:
            t0, f0 = since
            done = min(fraction, 1.0) - f0
            if done > 0.01 and elapsed > t0:
                return (1.0 - min(fraction, 1.0)) * (elapsed - t0) / done
        estimate = self.estimates.get(stage)
        return None if estimate is None else max(estimate - elapsed, 0.0)

    def line(
        self,
        stage: str,
        elapsed: float,
        fraction: float | None = None,
        since: tuple[float, float] | None = None,
    ) -> str:
        """One progress line; `since` = (elapsed, fraction) when progress was first seen."""
        left = self._left(stage, elapsed, fraction, since)
        later = self._later(stage)
        total = None if left is None or later is None else left + later
        done = f" ({100 * min(fraction, 1.0):.0f}% of samples)" if fraction is not None else ""
        return (
            f"{stage}: {format_duration(elapsed)} elapsed{done}, about {format_duration(left)} "
            f"left in this stage, about {format_duration(total)} left in all"
        )

    @contextmanager
    def stage(
        self, name: str, fraction: Callable[[], float | None] | None = None
    ) -> Iterator[None]:
        """Run a stage; a reporter thread prints a progress line every `interval_s`."""
        self.estimates.setdefault(name, None)
        later = self._later(name)
        estimate = self.estimates.get(name)
        whole = None if estimate is None or later is None else estimate + later
        self.say(
            f"{name}: starting (estimate {format_duration(estimate)}; "
            f"about {format_duration(whole)} left in all)"
        )
        stop = threading.Event()
        start = time.monotonic()

        def report() -> None:
            first: tuple[float, float] | None = None
            while not stop.wait(self.interval_s):
                part = None
                if fraction is not None:
                    try:
                        part = fraction()
                    except OSError:
                        part = None
                elapsed = time.monotonic() - start
                if part is not None and first is None:
                    first = (elapsed, part)
                self.say(self.line(name, elapsed, part, first))

        thread = threading.Thread(target=report, name=f"progress-{name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.estimates[name] = 0.0
            self.say(f"{name}: done in {format_duration(time.monotonic() - start)}")
