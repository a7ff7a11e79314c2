"""The submission command end to end: candidate -> rerun -> refusals -> tree -> checks -> files.

Output folder (`output_dir`):
```
runs/accuracy/, runs/performance/       the rerun's bert_sweep run folders (results.json, logs)
submission/<division>/<submitter>/...   the submission tree (tree.py)
mlperf_submission.tar.gz                the tree's division folders (only when validation passes)
<submitter>_summary.csv / .json         final-report rows
validation.txt                          built-in validation (and the official checker's verdict)
submit.json                             what was chosen, measured, written and found
```
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bert_sweep.atomic import write_json_atomic
from bert_sweep.errors import ConfigError
from bert_sweep.report.record import Performance
from bert_sweep.submission import gate
from bert_sweep.submission.candidates import Candidate, select_candidate
from bert_sweep.submission.checker import CheckerVerdict, run_checker
from bert_sweep.submission.config import SubmitConfig
from bert_sweep.submission.describe import (
    code_readme,
    default_measurements,
    reproduce_command,
    results_readme,
)
from bert_sweep.submission.errors import SubmissionRefused
from bert_sweep.submission.progress import Progress
from bert_sweep.submission.summary import summary_rows, write_summary
from bert_sweep.submission.system_desc import (
    default_system_name,
    describe_system,
    system_id_from_name,
)
from bert_sweep.submission.tarball import TARBALL, make_tarball
from bert_sweep.submission.tree import Test01Files, TreeSpec, WrittenTree, write_tree
from bert_sweep.submission.validate import Report, validate_tree
from bert_sweep.submission.versions import benchmark_name, checker_version

TREE_DIR = "submission"


@dataclass
class Outcome:
    """Everything the command produced; `ok` when the tree passed every check run."""

    out_dir: Path
    tree: WrittenTree
    report: Report
    summary: tuple[Path, Path]
    tarball: Path | None
    checker: CheckerVerdict | None
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.report.ok and (self.checker is None or self.checker.passed)


def default_output_dir() -> Path:
    return Path("outputs") / "submissions" / time.strftime("%Y-%m-%d_%H-%M-%S")


def _output_dir(cfg: SubmitConfig) -> Path:
    """The output folder (created later, once the candidate passed the early refusals)."""
    out = Path(cfg.output_dir) if cfg.output_dir else default_output_dir()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"output_dir={out}: exists and is not empty; expected a new folder")
    return out.resolve()


def _stage_runs(cfg: SubmitConfig, candidate: Candidate, run_cfg, out: Path, say: Progress):
    """(accuracy run dir, its results, performance run dir, its results, attempts, rate)."""
    if not cfg.rerun:
        if candidate.run_dir is None or candidate.results is None:
            raise ConfigError("rerun=false: needs candidate.run_dir (a finished submission run)")
        if not run_cfg.profile.valid_for_submission:
            raise SubmissionRefused(
                f"{candidate.run_dir}: profile {run_cfg.profile.name!r} runs cannot be packaged "
                "as they are; rerun=true reruns the configuration under the submission profile"
            )
        results = candidate.results
        perf = results.performance or Performance()
        attempts = [
            {
                "samples_per_second": perf.samples_per_second,
                "validity": perf.validity,
                "duration_s": perf.duration_s,
                "target_qps": perf.target_qps,
                "run_dir": str(candidate.run_dir),
            }
        ]
        return candidate.run_dir, results, candidate.run_dir, results, attempts, None
    from bert_sweep.submission.rerun import rerun
    from bert_sweep.submission.run_config import submission_profile

    done = rerun(
        run_cfg,
        out,
        submission_profile(),
        say,
        cfg.target_qps_margin,
        cfg.performance_attempts,
        root_dir=Path.cwd(),
    )
    return (
        done.accuracy_run,
        done.accuracy_results,
        done.performance_run,
        done.performance_results,
        done.attempts,
        done.accuracy_rate,
    )


def submit(cfg: SubmitConfig, stream: TextIO | None = None) -> Outcome:
    """Run the whole submission stage for `cfg`; SubmissionRefused / ConfigError on refusal."""
    from bert_sweep.submission.rerun import accuracy_estimate_s, performance_estimate_s
    from bert_sweep.submission.run_config import candidate_config

    stream = stream or sys.stdout
    version = checker_version(cfg.version)
    out = _output_dir(cfg)
    candidate = select_candidate(cfg.candidate)
    run_cfg = candidate_config(candidate, list(cfg.candidate.overrides), out / "runs")
    benchmark = benchmark_name(run_cfg.target)
    gate.check_candidate(run_cfg, version)
    out.mkdir(parents=True, exist_ok=True)
    estimates = {
        "accuracy run": accuracy_estimate_s(candidate.samples_per_second),
        "performance run": performance_estimate_s(
            cfg.target_qps_margin, candidate.samples_per_second
        ),
    }
    progress = Progress(estimates if cfg.rerun else {}, cfg.progress_interval_s, stream)
    progress.say(f"candidate: {candidate.source}")
    progress.say(
        f"packaging {benchmark} {run_cfg.scenario.name} for {cfg.division} division, checker "
        f"{version.name}, submitter {cfg.submitter}; output {out}"
    )

    acc_run, acc_results, perf_run, perf_results, attempts, rate = _stage_runs(
        cfg, candidate, run_cfg, out, progress
    )
    try:
        gate.check_accuracy_run(acc_results, acc_run, cfg.division, benchmark)
        gate.check_performance_run(perf_run / "performance", version)
    except SubmissionRefused as exc:
        write_json_atomic(
            out / "refused.json",
            {
                "reason": str(exc),
                "accuracy_run": str(acc_run),
                "performance_run": str(perf_run),
                "performance_attempts": attempts,
            },
        )
        raise

    test01: Test01Files | None = None
    if cfg.division == "closed":
        from bert_sweep.submission.compliance import run_test01
        from bert_sweep.submission.run_config import stage_config, submission_profile

        target = attempts[-1].get("target_qps") if attempts else None
        test_cfg = stage_config(
            run_cfg, "performance", out / "runs" / "test01", submission_profile(), target
        )
        with progress.stage("TEST01 compliance run"):
            test01 = run_test01(
                test_cfg,
                out / "runs" / "test01",
                acc_run / "accuracy" / "mlperf_log_accuracy.json",
                perf_run / "performance" / "mlperf_log_detail.txt",
            )

    config = perf_results.config or {}
    system_name = cfg.system_name or default_system_name(perf_results)
    system_id = cfg.system_id or system_id_from_name(system_name)
    system_json = describe_system(
        perf_results,
        division=cfg.division,
        submitter=cfg.submitter,
        system_name=system_name,
        system_type=cfg.system_type,
        status=cfg.status,
        storage_path=out,
        overrides=cfg.system,
    )
    measurements = default_measurements(config) | dict(cfg.measurements)
    acc = acc_results.accuracy  # check_accuracy_run: measured, meaningful, this run's own
    perf = perf_results.performance or Performance()
    overrides = list(candidate.overrides or []) + list(cfg.candidate.overrides)
    command = reproduce_command(overrides, cfg.submitter, cfg.division, cfg.version)
    spec = TreeSpec(
        version=version,
        division=cfg.division,
        submitter=cfg.submitter,
        system_id=system_id,
        benchmark=benchmark,
        scenario=run_cfg.scenario.name,
        accuracy_dir=acc_run / "accuracy",
        performance_dir=perf_run / "performance",
        exact_match=acc.exact_match,
        f1=acc.f1,
        system_json=system_json,
        measurements=measurements,
        results_readme=results_readme(
            benchmark=benchmark,
            scenario=run_cfg.scenario.name,
            system_name=system_name,
            result=perf.result,
            f1=acc.f1,
            exact_match=acc.exact_match,
            attempts=attempts,
            candidate_source=candidate.source,
            git_commit=perf_results.git_commit,
            notes=cfg.notes,
        ),
        code_readme=code_readme(
            benchmark=benchmark,
            config=config,
            packages=perf_results.packages,
            git_commit=perf_results.git_commit,
            command=command,
        ),
        test01=test01,
    )
    tree = write_tree(spec, out / TREE_DIR)
    report = validate_tree(tree.root, version)
    rows = summary_rows(report, version, {system_id: system_json}, measurements)
    summary = write_summary(rows, version.csv_columns, out, cfg.submitter)
    verdict = None
    if cfg.checker_path:
        verdict = run_checker(
            Path(cfg.checker_path), tree.root, version.name, cfg.submitter, out / "checker"
        )
    tarball = None
    if cfg.tarball and report.ok and (verdict is None or verdict.passed):
        tarball = make_tarball(tree.root, out / TARBALL)

    lines = report.lines() + (verdict.lines() if verdict else [])
    (out / "validation.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = {
        "candidate": {
            "source": candidate.source,
            "overrides": overrides,
            "run_dir": str(candidate.run_dir) if candidate.run_dir else None,
        },
        "division": cfg.division,
        "version": version.name,
        "submitter": cfg.submitter,
        "system_id": system_id,
        "benchmark": benchmark,
        "scenario": run_cfg.scenario.name,
        "accuracy_run": str(acc_run),
        "performance_run": str(perf_run),
        "accuracy_rate": rate,
        "performance_attempts": attempts,
        "result": perf.result,
        "f1": acc.f1,
        "exact_match": acc.exact_match,
        "accuracy_log_sha256": tree.accuracy_hash,
        "tree": str(tree.root),
        "files": tree.files,
        "validation": {"ok": report.ok, "violations": [str(v) for v in report.violations]},
        "checker": None
        if verdict is None
        else {
            "passed": verdict.passed,
            "returncode": verdict.returncode,
            "log": str(verdict.log_path),
        },
        "tarball": str(tarball) if tarball else None,
        "summary": [str(p) for p in summary],
    }
    write_json_atomic(out / "submit.json", record)
    outcome = Outcome(out, tree, report, summary, tarball, verdict, record)
    _print_outcome(outcome, stream)
    return outcome


def _print_outcome(outcome: Outcome, stream: TextIO) -> None:
    root = outcome.tree.root
    print("", file=stream)
    print(f"submission tree: {root}", file=stream)
    for rel in outcome.tree.files:
        print(f"  {rel}  ({(root / rel).stat().st_size} bytes)", file=stream)
    for line in outcome.report.lines() + (outcome.checker.lines() if outcome.checker else []):
        print(line, file=stream)
    if outcome.tarball:
        print(f"tarball: {outcome.tarball}", file=stream)
    else:
        print("tarball: not written (the checks above did not pass)", file=stream)
    print(f"summary: {outcome.summary[0]}, {outcome.summary[1]}", file=stream)
    print(f"record : {outcome.out_dir / 'submit.json'}", file=stream)
