"""Hydra callback: after a grid sweep (`-m backend=onnx,noop batch=32,64`), print and save a table.

Why a callback reading results.json files rather than the launcher's return values: Hydra gives
`on_multirun_end` no job returns, and with a remote or process-pool launcher the jobs run
elsewhere anyway; every job (failed ones too) leaves `<job dir>/results.json`, which is the
record the rest of the tool reads. Only the jobs of this sweep are listed (their `.hydra/`
folder was written after the sweep started), so a reused sweep dir does not mix in old jobs.
The Optuna sweeper writes its own table (with trial numbers and the best trial), so this
callback stays quiet under it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from bert_sweep.report.record import RESULTS_FILE, RecordError, RunRecord
from bert_sweep.search.summary import row_from_results, write_summary

SWEEPER_PLUGIN = "hydra_plugins.bert_sweep_search"


def _job_key(job_dir: Path, sweep_dir: Path) -> tuple:
    rel = job_dir.relative_to(sweep_dir).parts
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in rel)


def _read_overrides(job_dir: Path) -> list[str]:
    from omegaconf import ListConfig

    try:
        loaded = OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")
    except Exception:  # unreadable: show the job without its overrides
        return []
    return [str(x) for x in loaded] if isinstance(loaded, ListConfig) else []


def collect_jobs(sweep_dir: Path, since: float | None = None) -> list[dict[str, Any]]:
    """Rows for every job folder under `sweep_dir` (with `.hydra/`), varying overrides only."""
    sweep_dir = Path(sweep_dir)
    jobs = []
    for marker in sweep_dir.rglob("overrides.yaml"):
        if marker.parent.name != ".hydra":
            continue
        job_dir = marker.parent.parent
        if since is not None and marker.stat().st_mtime < since:
            continue
        results: RunRecord | str | None = None
        if (job_dir / RESULTS_FILE).exists():
            try:
                results = RunRecord.read(job_dir)
            except RecordError as exc:
                results = str(exc)
        jobs.append((job_dir, _read_overrides(job_dir), results))
    jobs.sort(key=lambda j: _job_key(j[0], sweep_dir))
    common = set.intersection(*(set(o) for _, o, _ in jobs)) if len(jobs) > 1 else set()
    rows = []
    for job_dir, overrides, results in jobs:
        varying = [o for o in overrides if o not in common] or overrides
        job_id = "/".join(job_dir.relative_to(sweep_dir).parts)
        rows.append(row_from_results(job_id, " ".join(varying), results))
    return rows


class GridSummary(Callback):
    """Hydra callback (`hydra.callbacks.grid_summary._target_`); see the module docstring."""

    def __init__(self, print_table: bool = True) -> None:
        self.print_table = print_table
        self.started: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time() - 1.0  # file mtimes have coarse resolution on some systems

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        target = str(OmegaConf.select(config, "hydra.sweeper._target_", default="") or "")
        if target.startswith(SWEEPER_PLUGIN):
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        rows = collect_jobs(sweep_dir, since=self.started)
        if not rows:
            return
        n_ok = sum(r.get("status") == "ok" for r in rows)
        n_pass = sum(r.get("verdict") == "PASS" for r in rows)
        table = write_summary(
            sweep_dir,
            rows,
            f"bert_sweep grid: {len(rows)} jobs, {n_ok} ran, {n_pass} PASS",
            {"sweep_dir": str(sweep_dir.resolve())},
        )
        if self.print_table:
            print("\n" + table)
            print(f"summary written to {sweep_dir / 'summary.md'} (.csv, .json)")
