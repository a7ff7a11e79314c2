"""The end of a search: its table, best_overrides.{yaml,json} and plots, printed and written.

Beside search/summary.py (the table writer it shares with plain grid sweeps) rather than in the
sweeper, which only runs trials: every worker of a study calls this when it stops, and each
rewrites the files from the storage, so they always describe the whole study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from bert_sweep.atomic import write_json_atomic, write_text_atomic
from bert_sweep.search.space import SearchSpace
from bert_sweep.search.study import FAILED, best_feasible, outcome_of
from bert_sweep.search.summary import write_summary


def write_search_report(study, sweep_dir: Path, url: str, plots: bool = True) -> dict:
    """Table, best_overrides.{yaml,json}, plots; printed and written to the sweep dir."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    best = best_feasible(trials)
    baseline = next(
        (t for t in trials if t.user_attrs.get("baseline") and outcome_of(t) == "ok"), None
    )
    rows = [_row(t, best) for t in trials]
    extra: dict[str, Any] = {
        "study": study.study_name,
        "storage": url,
        "dashboard": f"optuna-dashboard {url}",
        "best_trial": best.number if best else None,
        "best_samples_per_second": best.value if best else None,
        "baseline_trial": baseline.number if baseline else None,
        "baseline_samples_per_second": baseline.value if baseline else None,
    }
    outcomes = [outcome_of(t) for t in trials]
    title = (
        f"bert_sweep search '{study.study_name}': {len(trials)} trials "
        f"({sum(o in ('ok', 'cached') for o in outcomes)} with results, "
        f"{sum(o in FAILED for o in outcomes)} failed, "
        f"{outcomes.count('interrupted')} interrupted)"
    )
    if best is not None:
        _write_best(best, sweep_dir, url, study.study_name)
        extra["best_overrides"] = str(sweep_dir / "best_overrides.yaml")
    if plots:
        extra["plots"] = _write_plots(study, sweep_dir / "plots")
    table = write_summary(sweep_dir, rows, title, extra)
    print("\n" + table)
    if best is None:
        print("no feasible trial yet: none met the accuracy target with a VALID run")
    else:
        line = f"best feasible: trial {best.number}, {best.value:.2f} samples/s"
        if baseline is not None and baseline.value:
            line += (
                f" vs baseline (trial {baseline.number}) {baseline.value:.2f} samples/s "
                f"(x{best.value / baseline.value:.2f})"
            )
        print(line)
        print(f"best overrides: {sweep_dir / 'best_overrides.yaml'}")
    print(f"open the study: optuna-dashboard {url}")
    return extra


def _row(trial, best) -> dict:
    a = trial.user_attrs
    outcome = outcome_of(trial)
    note = a.get("error") or "; ".join(a.get("reasons") or [])
    if outcome.startswith("cached"):
        note = f"same config as trial {a.get('cached_from')}" + (f"; {note}" if note else "")
    if a.get("baseline"):
        note = "baseline" + (f"; {note}" if note else "")
    marker = " *" if best is not None and trial.number == best.number else ""
    return {
        "id": f"{trial.number}{marker}",
        "params": " ".join(SearchSpace.overrides(a.get("params") or {})),
        "status": outcome,
        "samples_per_second": a.get("samples_per_second"),
        "validity": a.get("validity"),
        "f1": a.get("f1"),
        "ratio": a.get("ratio"),
        "accuracy_reused": a.get("accuracy_reused"),
        "verdict": a.get("verdict"),
        "note": note,
    }


def _write_best(best, sweep_dir: Path, url: str, study_name: str) -> None:
    a = best.user_attrs
    record = {
        "study": study_name,
        "storage": url,
        "trial": best.number,
        "samples_per_second": best.value,
        "f1": a.get("f1"),
        "ratio": a.get("ratio"),
        "reference_f1": a.get("reference_f1"),
        "verdict": a.get("verdict"),
        "params": a.get("params"),
        "overrides": a.get("overrides"),  # the configuration, without profile/tracking/hydra
        "trial_overrides": a.get("trial_overrides"),  # everything the trial ran with
        "run_dir": a.get("run_dir"),
        "cached_from": a.get("cached_from"),
    }
    write_json_atomic(sweep_dir / "best_overrides.json", record)
    header = (
        "# Best feasible trial of the search. `overrides` is its configuration (model,\n"
        "# backend, batch, ...) without how it was measured; replay for a submission with\n"
        "#   python -m bert_sweep <overrides...> profile=submission\n"
    )
    write_text_atomic(sweep_dir / "best_overrides.yaml", header + OmegaConf.to_yaml(record))


def _write_plots(study, folder: Path) -> dict[str, str]:
    from bert_sweep.search.plots import write_plots

    return write_plots(study, folder)
