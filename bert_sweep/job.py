"""A Hydra job: validate, run the pipeline, print the summary; failures recorded, not lost.

Nothing here exits: `sys.exit` inside the task would skip Hydra's job-end callbacks (tracking),
and an exception would be printed by Hydra as a traceback. So every outcome is a record in the
run dir's results.json and, in a single run, an exit status stored in bert_sweep.exits for
`cli.main` to act on once Hydra has returned. In a sweep (`-m`) a failed job (bad value, backend
missing, crash) prints one line and the sweep goes on to the next job. Ctrl-C or SIGTERM: the job
is recorded as interrupted, then the interrupt stops the run or the sweep (bert_sweep.exits).
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bert_sweep import exits
from bert_sweep.errors import BertSweepError
from bert_sweep.report.results import format_summary

ERROR_LOG = "error.log"


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_job(cfg: DictConfig):
    """Run one job; its RunRecord (status ok or failed), or None when nothing could be written."""
    from bert_sweep.config.validate import validate
    from bert_sweep.pipeline import Pipeline
    from bert_sweep.report.record import RunRecord

    run_dir = Path(OmegaConf.select(cfg, "paths.output_dir"))
    multirun = _is_multirun()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{time.time_ns()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        message = f"paths.output_dir={run_dir}: not writable ({exc.strerror})"
        _ended(exits.EXIT_USAGE, message, multirun)
        return None
    try:
        record = Pipeline(validate(cfg), run_dir).run()
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: recorded, then the run stops
        reason = exits.interrupt_reason(exc)
        record = RunRecord.failure(cfg, run_dir, "interrupted", reason)
        record.write(run_dir)
        exits.set_status(exits.EXIT_INTERRUPTED, f"{reason} (run dir {run_dir})")
        exits.hold_interrupt(exc)
        return record
    except BertSweepError as exc:
        record = RunRecord.failure(cfg, run_dir, type(exc).__name__, str(exc))
        record.write(run_dir)
        _ended(exits.EXIT_USAGE, str(exc), multirun)
        return record
    except Exception as exc:  # a crash in one job must not kill a sweep
        (run_dir / ERROR_LOG).write_text(traceback.format_exc())
        message = f"{type(exc).__name__}: {exc} (traceback in {run_dir / ERROR_LOG})"
        record = RunRecord.failure(cfg, run_dir, "crash", message)
        record.write(run_dir)
        _ended(exits.EXIT_CRASH, message, multirun)
        return record
    print(format_summary(record))
    if not multirun:
        exits.set_status(exits.EXIT_OK if record.exit_ok else exits.EXIT_FAILED)
    return record


def _ended(code: int, message: str, multirun: bool) -> None:
    """A job that failed: in a sweep say so now (the sweep goes on), else leave it to cli.main."""
    message = " ".join(message.split())
    if multirun:
        print(f"bert_sweep: error: {message}", file=sys.stderr)
    else:
        exits.set_status(code, message)
