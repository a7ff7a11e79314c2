"""A Hydra job: validate, run the pipeline, print the summary; failures recorded, not lost.

In a single run a BertSweepError ends the process with one line and exit code 2. In a sweep
(`-m`) every failure — bad value, backend missing, crash — is written to that job's results.json
with its reason and the sweep goes on to the next job.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bert_sweep.atomic import write_json_atomic
from bert_sweep.errors import BertSweepError
from bert_sweep.report.results import RESULTS_FILE, SCHEMA_VERSION, format_summary

EXIT_ERROR = 2


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _failure_record(cfg: DictConfig, run_dir: Path, kind: str, message: str) -> dict:
    def pick(path: str):
        try:
            return OmegaConf.select(cfg, path, throw_on_resolution_failure=False)
        except Exception:  # a broken interpolation must not hide the original error
            return None

    return {
        "schema": SCHEMA_VERSION,
        "status": "failed",
        "error": message,
        "error_kind": kind,
        "model": pick("model.name"),
        "dataset": pick("dataset.name"),
        "backend": pick("backend.name"),
        "precision": pick("precision"),
        "device": pick("device.name"),
        "scenario": pick("scenario.name"),
        "profile": pick("profile.name"),
        "batch_size": pick("batch"),
        "verdict": {"verdict": "ERROR", "feasible": False, "reasons": [message]},
        "run_dir": str(run_dir),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def run_job(cfg: DictConfig) -> dict:
    """Run one job; returns its results dict (status ok or failed)."""
    from bert_sweep.config.validate import validate
    from bert_sweep.pipeline import Pipeline

    run_dir = Path(OmegaConf.select(cfg, "paths.output_dir"))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{time.time_ns()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        message = f"paths.output_dir={run_dir}: not writable ({exc.strerror})"
        print(f"bert_sweep: error: {message}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    multirun = _is_multirun()
    try:
        results = Pipeline(validate(cfg), run_dir).run()
    except BertSweepError as exc:
        record = _failure_record(cfg, run_dir, type(exc).__name__, str(exc))
        write_json_atomic(run_dir / RESULTS_FILE, record)
        print(f"bert_sweep: error: {exc}", file=sys.stderr)
        if not multirun:
            sys.exit(EXIT_ERROR)
        return record
    except Exception as exc:  # a crash in one job must not kill a sweep
        (run_dir / "error.log").write_text(traceback.format_exc())
        message = f"{type(exc).__name__}: {exc} (traceback in {run_dir / 'error.log'})"
        record = _failure_record(cfg, run_dir, "crash", message)
        write_json_atomic(run_dir / RESULTS_FILE, record)
        print(f"bert_sweep: error: {message}", file=sys.stderr)
        if not multirun:
            sys.exit(1)
        return record
    print(format_summary(results))
    return results
