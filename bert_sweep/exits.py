"""Exit codes, and how a job's outcome and an interrupt travel from inside Hydra to `cli.main`.

Why this exists: Hydra runs the task inside `run_and_report`, which catches any exception and
prints a traceback with exit 1, and `sys.exit` inside the task skips Hydra's job-end callbacks
(tracking would never record the job). So nothing inside Hydra exits: the task and the sweeper
store their outcome here and return normally; only the CLI entry point maps it to an exit code
once Hydra has returned.

An interrupt (Ctrl-C, or SIGTERM, which is handled the same way) must still stop the whole
process, but only after tracking recorded the interrupted job: the job catches it, writes its
record and returns; `InterruptCallback` (listed first in hydra.callbacks, so its `on_job_end`
runs last) raises it again, and it leaves Hydra as a KeyboardInterrupt that `cli.main` turns
into one line and exit 130.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from hydra.experimental.callback import Callback

EXIT_OK = 0  # PASS, a performance-only run the user asked for, or a finished sweep
EXIT_CRASH = 1  # an internal error (traceback in the run dir's error.log)
EXIT_USAGE = 2  # bad input or a refused run (a BertSweepError)
EXIT_FAILED = 3  # the run completed but its verdict is FAIL (accuracy target missed, INVALID)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt raised by a termination signal; str() names the signal."""


@dataclass(frozen=True)
class ExitStatus:
    code: int
    message: str | None = None  # one line for stderr (None: nothing more to say)


_status: ExitStatus | None = None
_interrupt: KeyboardInterrupt | None = None


def set_status(code: int, message: str | None = None) -> None:
    global _status
    _status = ExitStatus(code, message)


def take_status() -> ExitStatus | None:
    """The outcome stored by the last job or sweep of this process (and forget it)."""
    global _status
    status, _status = _status, None
    return status


def interrupt_reason(exc: BaseException) -> str:
    if isinstance(exc, Interrupted) and str(exc):
        return f"interrupted by {exc}"
    return "interrupted by Ctrl-C"


def hold_interrupt(exc: KeyboardInterrupt) -> None:
    """Remember an interrupt a job caught; InterruptCallback raises it once the job is recorded."""
    global _interrupt
    _interrupt = exc


def pending_interrupt() -> KeyboardInterrupt | None:
    return _interrupt


def clear_interrupt() -> None:
    global _interrupt
    _interrupt = None


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def handle_sigterm() -> None:
    """SIGTERM raises `Interrupted` in the main thread, so it unwinds exactly like Ctrl-C:
    loadgen children stopped (harness/runner.py), the job recorded as interrupted."""
    signal.signal(signal.SIGTERM, _raise_interrupted)


class InterruptCallback(Callback):
    """Hydra callback: re-raise the interrupt a job caught, after the other callbacks ran."""

    def on_job_end(self, config: Any, job_return: Any = None, **kwargs: Any) -> None:
        exc = pending_interrupt()
        if exc is not None:
            clear_interrupt()
            raise exc
