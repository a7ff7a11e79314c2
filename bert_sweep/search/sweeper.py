"""The Optuna sweeper: maximize samples/s subject to accuracy >= target x reference F1.

One trial at a time per worker (ask -> run the job through Hydra's launcher -> tell), so any
number of workers, on one machine or several, share a study through its storage and each asks
for the next trial as soon as its own finishes. The loop per trial:

1. fail trials whose worker died (same host: process gone; elsewhere: heartbeat stale);
2. stop when `n_trials` jobs have run (measured or failed; cached duplicates and interrupted
   trials do not count), when a discrete space is exhausted, when the sampler only proposes
   duplicates, or when the failure rate is exceeded;
3. ask, draw the (conditional) parameters, compose the job's config and hash it: a config the
   study has already measured is told again at no cost (recorded as cached), and one another
   worker is measuring right now is waited for, then reused;
4. otherwise launch the job (job dir `<sweep dir>/<trial number>`), with a heartbeat thread,
   and tell Optuna samples/s plus the constraints (search.outcome) — or FAIL with the reason.

At the end every worker rewrites the study's table, best_overrides.{yaml,json} (best feasible
trial: the overrides to reproduce it, e.g. for the submission stage) and the plots
(search/report.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from bert_sweep.atomic import write_text_atomic
from bert_sweep.search.config import BertOptunaSweeperConf
from bert_sweep.search.outcome import Outcome, outcome_from_exception, outcome_from_results
from bert_sweep.search.report import write_search_report
from bert_sweep.search.space import SearchSpace, canonical, split_arguments
from bert_sweep.search.study import (
    COUNTED,
    DETERMINISTIC_ERRORS,
    FAILED,
    OUTCOME,
    TRIED,
    Heartbeat,
    SearchError,
    ask,
    creation_lock,
    make_sampler,
    open_study,
    outcome_of,
    reap_dead_workers,
    record_constraints,
    storage_url,
    worker_identity,
)

log = logging.getLogger(__name__)
# Free duplicates do not use up n_trials; stop when the sampler proposes only those for this long.
MAX_DUPLICATE_STREAK = 25
ERROR_LOG = "error.log"
# Trial attr: this trial measures its config (others with the same config wait for it).
MEASURING = "measuring"

# Result attributes copied from a measured trial to a cached duplicate of it.
_RESULT_ATTRS = (
    "samples_per_second",
    "validity",
    "f1",
    "ratio",
    "reference_f1",
    "accuracy_reused",
    "feasible",
    "verdict",
    "reasons",
    "constraints",
    "backend",
    "precision",
    "batch_size",
    "run_dir",
    "error",
    "error_kind",
)


def _container(value: Any) -> Any:
    if isinstance(value, DictConfig) or OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


# Override keys that say how a trial was measured or recorded, not what configuration it is:
# left out of the overrides handed to the submission stage (which picks its own profile).
_MEASUREMENT_KEYS = ("hydra", "search", "profile", "tracking")


def submission_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides that define the configuration (model, backend, batch, ...)."""
    out = []
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if key.split(".")[0].split("/")[0] in _MEASUREMENT_KEYS:
            continue
        out.append(o)
    return out


class SearchSweeper:
    """The sweeper's logic; hydra_plugins.bert_sweep_search wraps it as a Hydra Sweeper plugin."""

    def __init__(self, **settings: Any) -> None:
        settings = {k: _container(v) for k, v in settings.items() if k != "_target_"}
        self.settings = BertOptunaSweeperConf(**settings)
        self.config: DictConfig | None = None
        self.hydra_context = None
        self.launcher = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    @property
    def sweep_dir(self) -> Path:
        return Path(str(self.config.hydra.sweep.dir))

    def crash_report(self, exc: BaseException) -> str:
        """One line for an internal error of the search; its traceback goes to the sweep dir."""
        import traceback

        message = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        path = self.sweep_dir / ERROR_LOG
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            write_text_atomic(path, text)
        except OSError:
            return message
        return f"{message} (traceback in {path})"

    # -- config identity -----------------------------------------------------------------------
    def config_hash(self, overrides: Sequence[str]) -> str:
        """Hash of the job's resolved config, without run-specific paths and Hydra's own node."""
        cfg = self.hydra_context.config_loader.load_sweep_config(
            master_config=self.config, sweep_overrides=list(overrides)
        )
        with open_dict(cfg):
            for key in ("hydra", "paths"):
                cfg.pop(key, None)
        try:
            data = OmegaConf.to_container(cfg, resolve=True)
        except Exception:  # an interpolation only the job can resolve: hash it unresolved
            data = OmegaConf.to_container(cfg, resolve=False)
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def baseline_values(self, space: SearchSpace) -> dict[str, Any]:
        """The base config's value of every searched key (group keys: the selected option)."""
        choices = OmegaConf.select(self.config, "hydra.runtime.choices", default=None) or {}
        values = {}
        for key in space.keys:
            if key in choices:
                values[key] = choices[key]
                continue
            value = OmegaConf.select(self.config, key, default=None)
            if value is not None and not OmegaConf.is_config(value):
                values[key] = value
        return values

    # -- the sweep -----------------------------------------------------------------------------
    def sweep(self, arguments: list[str]) -> list:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        s = self.settings
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        fixed, sweeps, pinned = split_arguments(parser.parse_overrides(arguments))
        space = SearchSpace.build(s.space, sweeps, pinned)
        sweep_dir = self.sweep_dir
        cwd = Path(str(OmegaConf.select(self.config, "hydra.runtime.cwd", default=".")))
        url = storage_url(s.storage, sweep_dir, cwd)
        sampler = make_sampler(s.sampler, s.seed, s.n_startup_trials)
        created = not sweep_dir.exists()
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            with creation_lock(url):
                study = open_study(url, s.study_name, sampler, s.heartbeat_interval, s.grace_period)
                if not study.get_trials(deepcopy=False):
                    self._enqueue_first(study, space)
        except BaseException:
            if created:  # nothing of a search that never started is left behind
                shutil.rmtree(sweep_dir, ignore_errors=True)
            raise
        # written once the study is open, so a bad storage URL leaves no half-made sweep
        write_text_atomic(sweep_dir / "multirun.yaml", OmegaConf.to_yaml(self.config))
        log.info(
            "study %r in %s: %d trials so far; searching %s",
            s.study_name,
            url,
            len(study.get_trials(deepcopy=False)),
            ", ".join(space.keys),
        )
        points = space.enumerate()
        stop = None
        try:
            while stop is None:
                stop = self._next_trial(study, space, fixed, points)
        finally:
            write_search_report(study, sweep_dir, url, plots=self.settings.plots)
        log.info("search stopped: %s", stop)
        if stop.startswith("failure rate"):
            raise SearchError(f"hydra.sweeper.max_failure_rate={s.max_failure_rate}: {stop}")
        return []

    def _enqueue_first(self, study, space: SearchSpace) -> None:
        if self.settings.baseline:
            params = space.fit(self.baseline_values(space))
            if params:
                study.enqueue_trial(params, user_attrs={"baseline": True})
        for i, entry in enumerate(self.settings.enqueue):
            params = space.fit(entry)
            if not params:
                raise SearchError(
                    f"hydra.sweeper.enqueue[{i}]={entry}: expected values of searched keys "
                    f"({', '.join(space.keys)}) inside their ranges"
                )
            study.enqueue_trial(params)

    def _stop_reason(self, trials: Sequence[Any], points: list | None) -> str | None:
        s = self.settings
        outcomes = [outcome_of(t) for t in trials]
        n_counted = sum(o in COUNTED for o in outcomes)
        n_failed = outcomes.count("failed")
        if n_counted >= s.min_trials_for_failure_rate and n_failed / n_counted > s.max_failure_rate:
            return f"failure rate {n_failed}/{n_counted} trials failed (limit {s.max_failure_rate})"
        if n_counted >= s.n_trials:
            return f"n_trials={s.n_trials} reached"
        if n_counted + outcomes.count("running") >= s.n_trials:
            return f"n_trials={s.n_trials} reached or running in other workers"
        if points is not None:
            tried = {
                canonical(t.user_attrs.get("params", {}))
                for t, o in zip(trials, outcomes, strict=True)
                if o in TRIED
            }
            if all(canonical(p) in tried for p in points):
                return f"search space exhausted (all {len(points)} configurations tried)"
        streak = 0
        for o in reversed([o for o in outcomes if o in TRIED]):
            if not o.startswith("cached"):
                break
            streak += 1
        if streak >= MAX_DUPLICATE_STREAK:
            return (
                f"the sampler proposed {streak} already-measured configurations in a row "
                "(converged; widen the space or change the seed to explore more)"
            )
        return None

    def _next_trial(self, study, space: SearchSpace, fixed: list[str], points) -> str | None:
        """Run one trial; returns why the search stops, or None to go on."""
        s = self.settings
        reaped = reap_dead_workers(study, s.grace_period)
        if reaped:
            log.info("marked interrupted (worker died): trials %s", reaped)
        stop = self._stop_reason(study.get_trials(deepcopy=False), points)
        if stop:
            return stop
        trial = ask(study)
        trial.set_user_attr("worker", worker_identity())
        with Heartbeat(study._storage, trial._trial_id, s.heartbeat_interval):
            earlier = [
                t
                for t in study.get_trials(deepcopy=False)
                if t.number < trial.number and outcome_of(t) in (*COUNTED, "running")
            ]
            if len(earlier) >= s.n_trials:  # another worker took the last slot meanwhile
                trial.set_user_attr(OUTCOME, "over_budget")
                from optuna.trial import TrialState

                study.tell(trial, state=TrialState.PRUNED)
                return f"n_trials={s.n_trials} reached (by other workers)"
            try:
                self._run_trial(study, trial, space, fixed)
            except BaseException as exc:  # Ctrl-C/SIGTERM: interrupted, not a job failure
                from optuna.trial import TrialState

                from bert_sweep.exits import interrupt_reason

                why = interrupt_reason(exc) if isinstance(exc, KeyboardInterrupt) else None
                trial.set_user_attr(OUTCOME, "interrupted")
                trial.set_user_attr("error", why or f"interrupted: {type(exc).__name__}: {exc}")
                study.tell(trial, state=TrialState.FAIL)
                raise
        return None

    def _run_trial(self, study, trial, space: SearchSpace, fixed: list[str]) -> None:
        assignment = space.sample(trial)
        overrides = [*fixed, *SearchSpace.overrides(assignment)]
        trial.set_user_attr("params", assignment)
        trial.set_user_attr("overrides", submission_overrides(overrides))
        trial.set_user_attr("trial_overrides", overrides)
        label = " ".join(SearchSpace.overrides(assignment))
        try:
            chash = self.config_hash(overrides)
        except Exception as exc:  # the overrides do not compose: a failed trial, with why
            self._tell(study, trial, outcome_from_exception(exc), label)
            return
        trial.set_user_attr("config_hash", chash)
        source = self._claim_or_reuse(study, trial, chash) if self.settings.reuse_results else None
        if source is not None:
            self._tell_cached(study, trial, source, label)
            return
        log.info("trial %d: %s", trial.number, label)
        try:
            (ret,) = self.launcher.launch([overrides], initial_job_idx=trial.number)
            trial.set_user_attr("job_dir", ret.working_dir)
            outcome = outcome_from_results(ret.return_value)
        except Exception as exc:  # the job raised (launcher caught it) or could not start
            outcome = outcome_from_exception(exc)
        self._tell(study, trial, outcome, label)

    def _claim_or_reuse(self, study, trial, chash: str):
        """A finished trial to reuse, or None once this trial may measure the config itself.

        Two workers can be proposed the same config while neither has finished it; only one may
        measure it. A trial claims the config (user attr `measuring`), then looks again: if a
        lower-numbered trial claimed it too (both claimed at once), it withdraws. A trial that
        finds the config claimed waits for that trial (polling the storage: Optuna has no
        notification) and reuses its result, or measures itself if that one failed for a reason
        that need not repeat.
        """
        import threading

        while True:
            source = self._cached(study, chash, trial.number)
            if source is not None:
                return source
            rival = self._measuring(study, chash, trial.number)
            if rival is None:
                trial.set_user_attr(MEASURING, True)
                rival = self._measuring(study, chash, trial.number, below=trial.number)
                if rival is None:
                    return None
                trial.set_user_attr(MEASURING, False)
            log.info(
                "trial %d: same config as trial %d, still running: waiting for its result",
                trial.number,
                rival.number,
            )
            pause = threading.Event()
            while self._running(study, rival):
                pause.wait(1.0)
                reap_dead_workers(study, self.settings.grace_period)

    @staticmethod
    def _measuring(study, chash: str, number: int, below: int | None = None):
        """A RUNNING trial other than `number` that claimed this config (lowest number first)."""
        from optuna.trial import TrialState

        for t in sorted(
            study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)), key=lambda t: t.number
        ):
            if t.number == number or t.user_attrs.get("config_hash") != chash:
                continue
            if t.user_attrs.get(MEASURING) and (below is None or t.number < below):
                return t
        return None

    @staticmethod
    def _running(study, t) -> bool:
        from optuna.trial import TrialState

        return study._storage.get_trial(t._trial_id).state == TrialState.RUNNING

    @staticmethod
    def _cached(study, chash: str, number: int):
        """A finished trial with the same config: measured, or failed for a reason that repeats."""
        from optuna.trial import TrialState

        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            if t.number == number or t.user_attrs.get("config_hash") != chash:
                continue
            outcome = outcome_of(t)
            if outcome in ("ok", "cached"):
                return t
            if outcome in FAILED and t.user_attrs.get("error_kind") in DETERMINISTIC_ERRORS:
                return t
        return None

    @staticmethod
    def _tell(study, trial, outcome: Outcome, label: str) -> None:
        from optuna.trial import TrialState

        for key, value in outcome.attrs.items():
            trial.set_user_attr(key, value)
        if outcome.ok:
            record_constraints(trial, outcome.constraints)
            trial.set_user_attr(OUTCOME, "ok")
            study.tell(trial, values=outcome.value)
            a = outcome.attrs
            log.info(
                "trial %d: %.2f samples/s, F1 %s (ratio %s%s) %s -> %s",
                trial.number,
                outcome.value,
                "-" if a.get("f1") is None else f"{a['f1']:.3f}",
                "-" if a.get("ratio") is None else f"{100 * a['ratio']:.2f}%",
                ", reused" if a.get("accuracy_reused") else "",
                a.get("validity"),
                "feasible" if outcome.feasible else "infeasible",
            )
        else:
            trial.set_user_attr("error", outcome.error)
            trial.set_user_attr(OUTCOME, "failed")
            study.tell(trial, state=TrialState.FAIL)
            log.warning("trial %d failed (%s): %s", trial.number, label, outcome.error)

    @staticmethod
    def _tell_cached(study, trial, source, label: str) -> None:
        from optuna.trial import TrialState

        origin = source.user_attrs.get("cached_from", source.number)
        for key in _RESULT_ATTRS:
            if key in source.user_attrs:
                trial.set_user_attr(key, source.user_attrs[key])
        trial.set_user_attr("cached_from", origin)
        if source.state == TrialState.COMPLETE:
            record_constraints(trial, source.user_attrs.get("constraints", (1.0, 1.0)))
            trial.set_user_attr(OUTCOME, "cached")
            study.tell(trial, values=source.value)
        else:
            trial.set_user_attr(OUTCOME, "cached_failed")
            study.tell(trial, state=TrialState.FAIL)
        log.info("trial %d: %s = config of trial %d: result reused", trial.number, label, origin)
