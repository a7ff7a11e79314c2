"""Refusals: what must never be packaged, checked before and after the (long) rerun.

Before the rerun (seconds, so nobody waits 15 minutes for a refusal): a perf-only model or a
backend that does not run the model, a dataset other than SQuAD v1.1 dev, and a loadgen whose
seeds cannot match the chosen checker version. After it: a performance run that is INVALID or
logged errors, seeds (read back from the detail logs) that do not match, an accuracy run that is
not this rerun's own full pass, and, in the closed division, F1 below the target.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from bert_sweep.config.schema import RunConfig
from bert_sweep.report.record import RunRecord
from bert_sweep.submission.errors import SubmissionRefused
from bert_sweep.submission.versions import (
    DATASET_SIZE,
    CheckerVersion,
    accuracy_target_f1,
)

# Loadgen releases and the checker version whose seeds their mlperf.conf carries.
LOADGEN_SEEDS = {
    "6.0.16": "v6.1",
    "6.0.17": "v6.1",
    **{f"6.0.{n}": "v6.0" for n in range(5, 16)},
}


def loadgen_checker_version(loadgen_version: str | None) -> str | None:
    """Checker version matching a loadgen release (None when the release is not in the table)."""
    if not loadgen_version:
        return None
    if loadgen_version.startswith("5.1."):
        return "v5.1"
    return LOADGEN_SEEDS.get(loadgen_version)


def installed_loadgen() -> str | None:
    try:
        return metadata.version("mlcommons-loadgen")
    except metadata.PackageNotFoundError:
        return None


def check_candidate(cfg: RunConfig, version: CheckerVersion) -> None:
    """Refuse, before any rerun, a configuration that can never become a valid submission."""
    if not cfg.model.accuracy_meaningful or not cfg.model.packageable:
        raise SubmissionRefused(
            f"model={cfg.model.name}: a perf-only model (random weights) cannot be packaged; "
            "its accuracy means nothing"
        )
    if not cfg.backend.COMPUTES_MODEL:
        raise SubmissionRefused(
            f"backend={cfg.backend.name}: does not run the model (no real accuracy); "
            "it cannot be packaged"
        )
    if cfg.dataset.name != "squad":
        raise SubmissionRefused(
            f"dataset={cfg.dataset.name}: a submission runs on the SQuAD v1.1 dev set "
            "(dataset=squad, 10,833 samples)"
        )
    found = installed_loadgen()
    expected = loadgen_checker_version(found)
    if expected is not None and expected != version.name:
        raise SubmissionRefused(
            f"version={version.name}: installed mlcommons-loadgen {found} writes the "
            f"{expected} rng seeds; checker {version.name} needs {version.loadgen}"
        )


def check_accuracy_run(results: RunRecord, run_dir: Path, division: str, benchmark: str) -> None:
    """The accuracy stage measured its own full pass with a real model (and, closed, the target)."""
    acc = results.accuracy
    if not results.ok or acc is None:
        raise SubmissionRefused(f"{run_dir}: the accuracy run did not finish")
    if not acc.meaningful or acc.f1 is None or acc.exact_match is None:
        why = acc.not_meaningful_reason or "perf-only model"
        raise SubmissionRefused(f"{run_dir}: accuracy is not meaningful ({why}); cannot package")
    measured_in = Path(str(acc.measured_in)).resolve()
    if acc.reused or measured_in != Path(run_dir).resolve():
        raise SubmissionRefused(
            f"{run_dir}: accuracy was reused from {acc.measured_in}; the submission "
            "needs this run's own accuracy log"
        )
    if acc.n_samples != DATASET_SIZE:
        raise SubmissionRefused(
            f"{run_dir}: accuracy covered {acc.n_samples} samples, not the whole "
            f"dataset ({DATASET_SIZE})"
        )
    if division == "closed":
        target = accuracy_target_f1(benchmark)
        if acc.f1 < target:
            raise SubmissionRefused(
                f"{run_dir}: F1 {acc.f1:.3f} is below the {benchmark} target {target:.3f} "
                "required in the closed division"
            )


def check_performance_run(perf_dir: Path, version: CheckerVersion) -> None:
    """VALID, no loadgen errors, and the seeds of `version`, read back from the detail log."""
    from bert_sweep.harness.mllog import parse_detail_log

    log = parse_detail_log(perf_dir / "mlperf_log_detail.txt")
    if log.validity != "VALID":
        why = ", ".join(log.invalid_reasons) or log.invalid_recommendation or "no reason logged"
        raise SubmissionRefused(f"{perf_dir}: performance result is {log.validity} ({why})")
    if log.errors:
        first = log.errors[0]
        raise SubmissionRefused(
            f"{perf_dir}: loadgen logged {len(log.errors)} error(s), first {first['key']}: "
            f"{str(first['value'])[:120]}"
        )
    seeds = {
        "qsl_rng_seed": log.qsl_rng_seed,
        "sample_index_rng_seed": log.sample_index_rng_seed,
        "schedule_rng_seed": log.schedule_rng_seed,
    }
    wrong = {k: v for k, v in seeds.items() if v != version.seeds[k]}
    if wrong:
        name, value = next(iter(wrong.items()))
        raise SubmissionRefused(
            f"{perf_dir}: {name}={value} does not match checker {version.name} "
            f"({version.seeds[name]}; loadgen {log.loadgen_version} ran it, "
            f"{version.name} needs {version.loadgen})"
        )
