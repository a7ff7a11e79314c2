"""The accuracy constraint with a real model: a faster option that breaks accuracy never wins.

On the embedded model, onnxruntime dynamic int8 (pinned: static int8, the default, keeps
bert-99 there) runs ~2x faster than fp32 on 2 cores but its
F1 falls to ~95% of the fp32 reference (measured over the first 128 synthetic dev features:
89.7 vs 94.5; 10.1-10.9 vs 4.2-6.1 samples/s), below the bert-99 target. The search must see
int8 as faster and still report fp32.
Both precisions are tried for sure (baseline fp32, then int8 enqueued); TPE proposes the rest.
"""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest

from bert_sweep.search.study import outcome_of
from tests.conftest import ROOT

STUDY = "constraint"


@pytest.mark.slow
def test_faster_int8_that_breaks_accuracy_never_wins(embedded, tmp_path):
    sweep = tmp_path / "search"
    cmd = [
        sys.executable, "-m", "bert_sweep", "-m", "+search=cpu_onnx",
        "model=embedded", "backend=onnx", "tracking=none", "assets.progress=false", "target=0.99",
        # pin the rest of the preset's space: only precision and batch are searched
        "threads=0", "harness.trim_padding=false", "backend.inter_op_threads=0",
        "backend.execution_mode=sequential", "backend.graph_optimization_level=all",
        "backend.quant_per_channel=false", "backend.quantization=dynamic",
        "backend.optimize=false",
        "profile.max_samples=128", "profile.warmup_batches=1",
        "precision=choice(fp32,int8)", "batch=choice(8,16)",
        f"hydra.sweep.dir={sweep}", f"hydra.sweeper.study_name={STUDY}",
        "hydra.sweeper.n_trials=4", "hydra.sweeper.n_startup_trials=2", "hydra.sweeper.seed=0",
        "hydra.sweeper.enqueue=[{precision:int8,batch:8}]",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]

    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{sweep / 'optuna.db'}")
    trials = [t for t in study.get_trials() if outcome_of(t) in ("ok", "cached")]
    assert sum(outcome_of(t) == "ok" for t in trials) == 4  # jobs run; duplicates are free
    by_precision = {p: [t for t in trials if t.params["precision"] == p] for p in ("fp32", "int8")}
    assert by_precision["fp32"] and by_precision["int8"]
    for t in by_precision["int8"]:  # measured accuracy below target: infeasible
        assert t.user_attrs["ratio"] < 0.99 and t.user_attrs["constraints"][0] > 0
        assert t.user_attrs["feasible"] is False and t.user_attrs["verdict"] == "FAIL"
    for t in by_precision["fp32"]:
        assert t.user_attrs["ratio"] == pytest.approx(1.0)
    # accuracy measured at most once per numerics, the same figure reused by the others
    for group in by_precision.values():
        assert len({t.user_attrs["f1"] for t in group}) == 1
        measured = [t for t in group if t.user_attrs.get("cached_from") is None]
        assert sum(not t.user_attrs["accuracy_reused"] for t in measured) <= 1

    summary = json.loads((sweep / "summary.json").read_text())
    best = json.loads((sweep / "best_overrides.json").read_text())
    assert summary["best_trial"] == best["trial"]
    assert best["params"]["precision"] == "fp32" and best["verdict"] == "PASS"
    assert "precision=fp32" in best["overrides"] and "model=embedded" in best["overrides"]
    assert not any(o.startswith(("profile", "hydra", "+search")) for o in best["overrides"])
    # the case is real: int8 was faster than the winner, and lost on accuracy
    fastest_int8 = max(t.value for t in by_precision["int8"])
    assert fastest_int8 > best["samples_per_second"]
    assert best["samples_per_second"] == max(t.value for t in by_precision["fp32"])
    assert study.best_trial.params["precision"] == "fp32"  # Optuna sees the constraint too
    from omegaconf import OmegaConf

    assert OmegaConf.to_container(OmegaConf.load(sweep / "best_overrides.yaml")) == best
