"""Study plumbing on real sqlite storage: constraints, best feasible trial, dead-worker reaping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from bert_sweep.report.record import Accuracy, Performance, RunRecord
from bert_sweep.report.verdict import decide
from bert_sweep.search.outcome import outcome_from_exception, outcome_from_results
from bert_sweep.search.study import (
    Heartbeat,
    ask,
    best_feasible,
    make_sampler,
    open_study,
    outcome_of,
    reap_dead_workers,
    record_constraints,
    storage_url,
    worker_identity,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(tmp_path: Path, name: str = "s"):
    url = storage_url(None, tmp_path, tmp_path)
    return open_study(url, name, make_sampler("tpe", 0, 2), heartbeat_interval=1, grace_period=2)


def _results(f1: float, reference: float, validity: str, target: float = 0.99) -> RunRecord:
    accuracy = Accuracy(f1=f1, n_samples=256, reference_f1=reference, ratio=f1 / reference)
    performance = Performance(samples_per_second=100.0, validity=validity)
    return RunRecord(
        status="ok",
        run_dir="run",
        target=target,
        accuracy=accuracy,
        performance=performance,
        verdict=decide(accuracy, performance, target, "synthetic"),
    )


def test_outcome_constraints_follow_the_verdict():
    ok = outcome_from_results(_results(90.0, 90.5, "VALID"))
    assert ok.feasible and ok.constraints[0] == pytest.approx(0.99 - 90.0 / 90.5)
    low = outcome_from_results(_results(85.0, 90.5, "VALID"))
    assert not low.feasible and low.constraints[0] > 0 and low.constraints[1] == 0
    invalid = outcome_from_results(_results(90.0, 90.5, "INVALID"))
    assert not invalid.feasible and invalid.constraints[0] <= 0 < invalid.constraints[1]
    failed = outcome_from_results(RunRecord.failure(None, "run", "X", "backend=trt: no tensorrt"))
    assert not failed.ok and failed.error == "backend=trt: no tensorrt"
    crash = outcome_from_exception(RuntimeError("out of\nmemory"))
    assert crash.error == "RuntimeError: out of memory"


def test_best_trial_is_the_fastest_feasible_one(tmp_path):
    """The fastest trial broke the accuracy target: it is never the best."""
    study = _study(tmp_path)
    for sps, constraints in [(100.0, [-0.01, 0.0]), (300.0, [0.02, 0.0]), (200.0, [0.0, 0.0])]:
        trial = ask(study)
        record_constraints(trial, constraints)
        trial.set_user_attr("outcome", "ok")
        study.tell(trial, sps)
    trials = study.get_trials()
    assert best_feasible(trials).value == 200.0
    # Optuna holds the constraints too: its sampler, best_trial and plots see the same thing
    assert [max(t.constraints.values()) > 0 for t in trials] == [False, True, False]
    assert study.best_trial.number == best_feasible(trials).number


def test_no_feasible_trial_gives_none(tmp_path):
    study = _study(tmp_path)
    trial = ask(study)
    record_constraints(trial, [0.5, 1.0])
    study.tell(trial, 1000.0)
    assert best_feasible(study.get_trials()) is None


def test_dead_worker_trial_is_failed_and_live_one_kept(tmp_path):
    study = _study(tmp_path)
    dead = ask(study)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from bert_sweep.search.study import worker_identity as w; "
            "print(json.dumps(w()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    dead.set_user_attr("worker", json.loads(child.stdout))  # that process has exited now
    live = ask(study)
    live.set_user_attr("worker", worker_identity())
    assert reap_dead_workers(study) == [dead.number]
    by_number = {t.number: t for t in study.get_trials()}
    assert by_number[dead.number].state == TrialState.FAIL
    assert outcome_of(by_number[dead.number]) == "interrupted"
    assert by_number[live.number].state == TrialState.RUNNING
    assert reap_dead_workers(study) == []  # idempotent


def test_stale_heartbeat_fails_a_trial_from_another_host(tmp_path):
    """A worker on another machine is judged by its heartbeat (grace period 2 s here)."""
    import time

    study = _study(tmp_path)
    trial = ask(study)
    trial.set_user_attr("worker", {"host": "elsewhere", "pid": 1, "started": 0})
    with Heartbeat(study._storage, trial._trial_id, interval=1):
        pass  # one beat recorded, then the "worker" goes silent
    assert reap_dead_workers(study) == []
    assert study.get_trials()[0].state == TrialState.RUNNING
    time.sleep(3.5)
    reap_dead_workers(study)
    stale = study.get_trials()[0]
    assert stale.state == TrialState.FAIL and outcome_of(stale) == "interrupted"


def test_storage_url_defaults_and_relative_paths(tmp_path):
    assert storage_url(None, tmp_path / "sw", tmp_path) == f"sqlite:///{tmp_path}/sw/optuna.db"
    assert storage_url("sqlite:///x/o.db", tmp_path, tmp_path) == f"sqlite:///{tmp_path}/x/o.db"
    assert storage_url("postgresql://h/db", tmp_path, tmp_path) == "postgresql://h/db"


def test_trial_without_worker_is_reaped_after_the_grace_period(tmp_path):
    """Killed between ask and recording its worker: no pid, no heartbeat, only its age."""
    import time

    study = _study(tmp_path)
    ask(study)
    assert reap_dead_workers(study, grace_period=60) == []
    time.sleep(1.2)
    assert reap_dead_workers(study, grace_period=1) == [0]
    assert outcome_of(study.get_trials()[0]) == "interrupted"


def _sweeper():
    from bert_sweep.search.sweeper import SearchSweeper

    return SearchSweeper(grace_period=2, heartbeat_interval=1)


def _two_trials_of_one_config(study):
    """Two RUNNING trials of this process, proposed the same config (hash "same")."""
    from bert_sweep.search.study import ask, worker_identity

    trials = ask(study), ask(study)
    for t in trials:
        t.set_user_attr("worker", worker_identity())
        t.set_user_attr("config_hash", "same")
    return trials


def test_a_config_another_worker_is_measuring_is_waited_for_and_reused(tmp_path):
    """Two workers proposed the same config at once: the second waits for the first's result
    instead of measuring it again (the duplicate the old finished-trials-only check missed)."""
    import threading

    from bert_sweep.search.study import OUTCOME
    from bert_sweep.search.sweeper import MEASURING

    study = _study(tmp_path)
    sweeper = _sweeper()
    first, second = _two_trials_of_one_config(study)
    assert sweeper._claim_or_reuse(study, first, "same") is None  # first claims it
    assert first.user_attrs[MEASURING] is True
    got = {}
    waiter = threading.Thread(
        target=lambda: got.update(source=sweeper._claim_or_reuse(study, second, "same"))
    )
    waiter.start()
    waiter.join(2.5)
    assert waiter.is_alive(), "the second trial must wait while the first is measuring"
    first.set_user_attr(OUTCOME, "ok")
    study.tell(first, values=12.5)
    waiter.join(10)
    assert not waiter.is_alive()
    assert got["source"].number == first.number  # reused, not measured again
    assert MEASURING not in study.trials[second.number].user_attrs


def test_two_trials_claiming_one_config_at_once_leave_it_to_the_lower_number(tmp_path):
    from bert_sweep.search.sweeper import MEASURING

    study = _study(tmp_path)
    sweeper = _sweeper()
    low, high = _two_trials_of_one_config(study)
    high.set_user_attr(MEASURING, True)  # the higher one claimed first ...
    low.set_user_attr(MEASURING, True)  # ... and the lower one, having looked before, too:
    # on the second look the lower one keeps its claim and the higher one withdraws
    assert sweeper._measuring(study, "same", low.number, below=low.number) is None
    assert sweeper._measuring(study, "same", high.number, below=high.number).number == low.number


def test_a_waiting_trial_measures_itself_when_the_other_failed_for_a_passing_reason(tmp_path):
    from optuna.trial import TrialState

    from bert_sweep.search.study import OUTCOME
    from bert_sweep.search.sweeper import MEASURING

    study = _study(tmp_path)
    sweeper = _sweeper()
    first, second = _two_trials_of_one_config(study)
    first.set_user_attr(MEASURING, True)
    first.set_user_attr(OUTCOME, "interrupted")
    study.tell(first, state=TrialState.FAIL)
    assert sweeper._claim_or_reuse(study, second, "same") is None
    assert study.trials[second.number].user_attrs[MEASURING] is True
