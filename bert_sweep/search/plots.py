"""PNG plots of a study, written to `<sweep dir>/plots/` (matplotlib, headless Agg backend).

- optimization_history.png: samples/s per trial; Optuna marks infeasible trials and draws the
  best feasible value so far (it reads the constraints the sampler recorded);
- param_importances.png: which parameters move samples/s (Optuna's fANOVA, needs >= 2 trials
  over a common set of parameters);
- samples_vs_batch.png: samples/s against batch size, one series per backend/precision, filled
  markers for feasible trials, crosses for trials that broke the accuracy target or were INVALID.

A plot that cannot be drawn (too few trials, matplotlib missing) is skipped with the reason;
plots never stop a search.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bert_sweep.atomic import atomic_path

log = logging.getLogger(__name__)


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:  # matplotlib picks the format from the name
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def _optuna_plot(name: str, study, folder: Path) -> Path:
    import matplotlib.pyplot as plt
    import optuna
    import optuna.visualization.matplotlib as ovm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "optimization_history":
            ax = ovm.plot_optimization_history(study, target_name="samples/s")
        else:
            ax = ovm.plot_param_importances(study, target_name="samples/s")
    fig = ax.figure
    try:
        path = folder / f"{name}.png"
        _save(fig, path)
        return path
    finally:
        plt.close(fig)


def _samples_vs_batch(trials: Sequence[Any], folder: Path) -> Path:
    from matplotlib.figure import Figure

    from bert_sweep.search.study import is_feasible

    series: dict[str, list[tuple[float, float, bool]]] = {}
    for t in trials:
        a = t.user_attrs
        sps, batch = a.get("samples_per_second"), a.get("batch_size")
        if sps is None or batch is None or t.value is None:
            continue
        label = f"{a.get('backend')} {a.get('precision')}"
        series.setdefault(label, []).append((float(batch), float(sps), is_feasible(t)))
    if not series:
        raise ValueError("no completed trial with a batch size and samples/s")
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for i, (label, points) in enumerate(sorted(series.items())):
        color = f"C{i % 10}"
        ok = [(b, s) for b, s, f in points if f]
        bad = [(b, s) for b, s, f in points if not f]
        if ok:
            ax.scatter(*zip(*ok, strict=True), color=color, marker="o", label=f"{label} feasible")
        if bad:
            ax.scatter(
                *zip(*bad, strict=True), color=color, marker="x", label=f"{label} infeasible"
            )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("samples/s (performance run)")
    ax.set_title("samples/s against batch, per backend and precision")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    path = folder / "samples_vs_batch.png"
    _save(fig, path)
    return path


def write_plots(study, folder: Path) -> dict[str, str]:
    """Draw every plot it can; returns {plot name: path or 'skipped: reason'}."""
    folder = Path(folder)
    try:
        import matplotlib

        matplotlib.use("Agg")  # headless: never try to open a window
    except ImportError:
        return {"plots": "skipped: matplotlib is not installed (pip install bert_sweep[search])"}
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    done: dict[str, str] = {}
    jobs = {
        "optimization_history": lambda: _optuna_plot("optimization_history", study, folder),
        "param_importances": lambda: _optuna_plot("param_importances", study, folder),
        "samples_vs_batch": lambda: _samples_vs_batch(trials, folder),
    }
    for name, draw in jobs.items():
        try:
            done[name] = str(draw())
        except Exception as exc:  # e.g. importances need >= 2 trials; never stop the search
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            done[name] = f"skipped: {reason}"
            log.info("plot %s skipped: %s", name, reason)
    return done
