"""Rerun the chosen configuration under the official rules: accuracy pass, then performance run.

Each stage is a bert_sweep Pipeline run in its own run folder; the Pipeline runs every loadgen
test in a fresh spawned process (harness/runner.py), so mlperf.conf and its seeds apply to each.

The accuracy stage (all 10,833 samples, AccuracyOnly) measures the rate that sets the
performance stage's `target_qps` (x `target_qps_margin`). Loadgen's Offline query holds
1.1 x 600 s x target_qps samples, so at the real rate the run takes about 660 s x margin. If the
real rate turns out higher than 1.1 x target (the run ends before 600 s: INVALID), the run is
repeated once with target_qps from the rate that run measured. Server and the latency
scenarios keep a target pinned in the candidate's config, else the Pipeline's warm-up sets it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bert_sweep.config.schema import ProfileConfig, RunConfig
from bert_sweep.report.record import Performance, RunRecord
from bert_sweep.submission.progress import ACCURACY_LOG_BYTES_PER_SAMPLE, Progress
from bert_sweep.submission.run_config import stage_config
from bert_sweep.submission.versions import DATASET_SIZE, MIN_DURATION_MS

# Loadgen's Offline query: min_duration x target_qps x 1.1 samples (loadgen's own margin).
OFFLINE_QUERY_FACTOR = 1.1
# Seconds a stage spends outside the loadgen test (assets, features from cache, session load).
STAGE_OVERHEAD_S = 30.0
# Seconds to score 10,833 features with the reference post-processing (measured on 2 cores).
SCORING_S = 60.0
_POWER_FORMAT = "%m-%d-%Y %H:%M:%S.%f"


@dataclass
class RerunResult:
    """Where the two stages wrote their logs and what they measured."""

    accuracy_run: Path
    accuracy_results: RunRecord
    performance_run: Path
    performance_results: RunRecord | None
    accuracy_rate: float | None  # samples/s of the accuracy pass
    attempts: list[dict[str, Any]] = field(default_factory=list)  # one per performance run


def loadgen_seconds(detail_log: Path) -> float | None:
    """Duration of the timed part of a loadgen test: its power_begin .. power_end stamps."""
    from bert_sweep.harness.mllog import read_mllog_records

    stamps = {}
    for record in read_mllog_records(detail_log):
        if record["key"] in ("power_begin", "power_end") and isinstance(record.get("value"), str):
            stamps.setdefault(record["key"], record["value"])
    try:
        begin = datetime.strptime(stamps["power_begin"], _POWER_FORMAT)
        end = datetime.strptime(stamps["power_end"], _POWER_FORMAT)
    except (KeyError, ValueError):
        return None
    seconds = (end - begin).total_seconds()
    return seconds if seconds > 0 else None


def accuracy_rate(results: RunRecord, run_dir: Path) -> float | None:
    """Samples/s of the accuracy pass (its loadgen test time, not the scoring after it)."""
    acc = results.accuracy
    n = (acc.n_samples if acc else None) or results.n_samples
    if not isinstance(n, int) or n <= 0:
        return None
    # The timed part of this run's own test; else the test's wall time (spawn and session load
    # included, so a lower rate), never that of a reused figure measured by another run.
    detail = run_dir / "accuracy" / "mlperf_log_detail.txt"
    seconds = loadgen_seconds(detail) if detail.is_file() else None
    if not seconds and acc is not None and not acc.reused:
        seconds = acc.wall_s
    return n / seconds if seconds else None


def performance_estimate_s(
    margin: float, rate: float | None = None, min_duration_ms: int | None = None
) -> float:
    """Expected length of an Offline performance run with target_qps = rate x margin.

    The query holds max(min_query_count, 1.1 x min_duration x target_qps) samples, and
    mlperf.conf's bert min_query_count is the whole dataset: a model slower than ~16 samples/s
    runs its 10,833 samples for longer than 660 s.
    """
    seconds = (min_duration_ms or MIN_DURATION_MS) / 1000 * OFFLINE_QUERY_FACTOR * margin
    if rate:
        seconds = max(seconds, DATASET_SIZE / rate)
    return seconds + STAGE_OVERHEAD_S


def accuracy_estimate_s(rate: float | None, n: int = DATASET_SIZE) -> float | None:
    return None if not rate else n / rate + SCORING_S + STAGE_OVERHEAD_S


def _ran_short(performance: Performance | None) -> bool:
    """INVALID only because the query finished before min_duration (the target was too low)."""
    if performance is None:
        return False
    reasons = performance.invalid_reasons
    return performance.validity != "VALID" and any("duration" in r for r in reasons)


def _run_pipeline(cfg: RunConfig, run_dir: Path) -> RunRecord:
    from bert_sweep.pipeline import Pipeline

    run_dir.mkdir(parents=True, exist_ok=True)
    return Pipeline(cfg, run_dir).run()


def rerun(
    base: RunConfig,
    out_dir: Path,
    profile: ProfileConfig,
    progress: Progress,
    margin: float,
    attempts: int,
    root_dir: Path | None = None,
) -> RerunResult:
    """Accuracy stage, then performance stage(s), under the submission profile."""
    runs = Path(out_dir) / "runs"
    acc_dir = runs / "accuracy"
    acc_cfg = stage_config(base, "accuracy", acc_dir, profile, root_dir=root_dir)
    acc_log = acc_dir / "accuracy" / "mlperf_log_accuracy.json"

    def accuracy_fraction() -> float | None:
        if not acc_log.is_file():
            return None
        return acc_log.stat().st_size / (DATASET_SIZE * ACCURACY_LOG_BYTES_PER_SAMPLE)

    with progress.stage("accuracy run", fraction=accuracy_fraction):
        acc_results = _run_pipeline(acc_cfg, acc_dir)
    rate = accuracy_rate(acc_results, acc_dir)
    if rate:
        progress.say(f"accuracy run: {rate:.2f} samples/s over the whole dataset")
    scenario = base.scenario.name
    if base.scenario.target_qps is not None:
        target = base.scenario.target_qps  # pinned in the candidate's config: keep it
    elif scenario == "Offline" and rate:
        target = rate * margin
    else:
        # Server's sustainable rate under the latency bound is below the Offline rate, and the
        # latency scenarios take no target_qps: the Pipeline's warm-up sets their targets.
        target = None
    history: list[dict[str, Any]] = []
    perf_dir, perf_results = runs / "performance", None
    for attempt in range(1, attempts + 1):
        perf_dir = runs / ("performance" if attempt == 1 else f"performance_{attempt}")
        cfg = stage_config(base, "performance", perf_dir, profile, target, root_dir=root_dir)
        stage = "performance run" if attempt == 1 else f"performance run #{attempt}"
        progress.update(stage, performance_estimate_s(margin, rate, profile.min_duration_ms))
        if target:
            progress.say(f"{stage}: target_qps {target:.2f} (loadgen issues 1.1 x 600 s of it)")
        with progress.stage(stage):
            perf_results = _run_pipeline(cfg, perf_dir)
        perf = perf_results.performance or Performance()
        history.append(
            {
                "run_dir": str(perf_dir),
                "target_qps": target,
                "samples_per_second": perf.samples_per_second,
                "validity": perf.validity,
                "invalid_reasons": list(perf.invalid_reasons),
                "duration_s": perf.duration_s,
            }
        )
        measured = perf.samples_per_second
        if not _ran_short(perf) or attempt == attempts or scenario != "Offline":
            break
        if not isinstance(measured, int | float) or not math.isfinite(measured) or measured <= 0:
            break
        target = float(measured) * margin
        rate = float(measured)
        progress.say(
            f"performance run ended before 600 s (INVALID): retrying with target_qps "
            f"{target:.2f} from the {measured:.2f} samples/s it measured"
        )
    return RerunResult(acc_dir, acc_results, perf_dir, perf_results, rate, history)
