"""Command line: `python -m bert_sweep [overrides]` / `bert-sweep`, single runs and `-m` sweeps.

Bad overrides, folders that cannot be created, an unusable search storage or tracking store are
caught before Hydra starts (one line naming the override and what was expected, exit 2). Errors
inside a job end a single run with one line, but in a sweep they are recorded in that job's
results.json and the sweep goes on. `main` is the one place that maps outcomes to exit codes
(bert_sweep/exits.py): nothing inside Hydra exits the process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from bert_sweep import exits
from bert_sweep.config import config_dir
from bert_sweep.config.compose import compose, task_config
from bert_sweep.config.store import register_configs
from bert_sweep.errors import BertSweepError, ConfigError
from bert_sweep.probe import why_not_writable


def _group_options(group: str) -> list[str]:
    """The options of a config group: its YAML files, and for `backend` the registered backends
    (stored in Hydra's ConfigStore by bert_sweep.backends.registry, no YAML of their own)."""
    folder = config_dir() / group
    options = {p.stem for p in folder.glob("*.yaml")} if folder.is_dir() else set()
    if group == "backend":
        from bert_sweep.backends import registry

        options |= set(registry.names())
    return sorted(options)


_ABSENT = object()
_TRACKING_KEYS = ("tracking=", "hydra.callbacks.tracking.")


def precheck(overrides: list[str], multirun: bool = False) -> list[str]:
    """Compose the config before Hydra runs, so bad input fails fast with one line.

    The whole command line is composed once (sweeps at their first value); each value of a sweep
    override (`batch=32,64`, `range(...)`) is then composed on its own. Unknown group options,
    unknown keys added with `+` and values of the wrong type stop a sweep before it starts; values
    a job's schema rejects (a backend that does not take a precision, say) fail only that job,
    recorded with the reason. Folders, the search's storage and the tracking store are probed.

    Returns overrides to add to the command line (`tracking=none` when the tracking store cannot
    be reached and `hydra.callbacks.tracking.required=false` allows going on without it).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(f"cannot parse overrides: {' '.join(str(exc).split())}") from None
    base, variants, added = [], [], []
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            values = [str(v) for v in o.sweep_string_iterator()]
            base.append(f"{key}={values[0]}")
            variants += [f"{key}={v}" for v in values[1:]]
        else:
            base.append(o.input_line)
        group = key.lstrip("+~")
        options = _group_options(group)
        if options and not key.startswith("~") and not o.is_hydra_override():
            values = values if o.is_sweep_override() else [o.value()]
            for v in values:
                if not isinstance(v, str) or v not in options:
                    raise ConfigError(f"{group}={v}: expected one of {options}")
        elif key.startswith("+") and not options and not o.is_hydra_override():
            added.append((base[-1], group))
    _reject_unknown_keys(base, added)
    extra: list[str] = []
    for i, attempt in enumerate([base, *[[*base, v] for v in variants]]):
        cfg = compose(attempt, job_name="precheck")
        if i == 0:
            extra = _check_places(cfg, multirun)
        _validate_composed(cfg, multirun=multirun)
    return extra


def _reject_unknown_keys(base: list[str], added: list[tuple[str, str]]) -> None:
    """`+key=value` adds a key the schema does not have: nothing reads it, so it is a typo."""
    if not added:
        return
    lines = {line for line, _ in added}
    cfg = compose([o for o in base if o not in lines], job_name="precheck")
    for line, key in added:
        try:
            found = OmegaConf.select(cfg, key, default=_ABSENT)
        except Exception:  # a path through a value, not a node
            found = _ABSENT
        if found is _ABSENT:
            raise ConfigError(f"{line}: unknown key {key} (not in the config; see --help)")


def _check_writable(field: str, path: Path) -> None:
    """Files can be created at `path` (tried, not asked: root passes os.access everywhere)."""
    why = why_not_writable(path)
    if why is not None:
        raise ConfigError(f"{field}={path}: cannot create it: {why}")


def _check_places(cfg: DictConfig, multirun: bool) -> list[str]:
    """Folders the run writes, the search's storage and the tracking store: usable, now."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    _check_writable(key, Path(str(OmegaConf.select(cfg, key))))
    _check_writable("assets.cache_dir", Path(str(cfg.assets.cache_dir)).expanduser())
    if multirun:
        _check_search(cfg)
    from bert_sweep.tracking.settings import SETTINGS_KEY, probe_store, validate_tracking

    settings = validate_tracking(cfg)
    why = probe_store(settings) if settings is not None else None
    if why is None:
        return []
    if settings.required:
        raise ConfigError(
            f"{SETTINGS_KEY}.uri={settings.uri}: cannot record runs there: {why}; "
            f"{SETTINGS_KEY}.required=false runs without tracking"
        )
    print(f"bert_sweep: warning: tracking off: {settings.uri}: {why}", file=sys.stderr)
    return ["tracking=none"]


def _check_search(cfg: DictConfig) -> None:
    """The Optuna sweeper's settings (one line, not Hydra's instantiate error) and storage."""
    from bert_sweep.search.config import SWEEPER_TARGET, BertOptunaSweeperConf

    node = OmegaConf.select(cfg, "hydra.sweeper")
    if node is None or OmegaConf.select(node, "_target_") != SWEEPER_TARGET:
        return
    data = OmegaConf.to_container(node, resolve=True)
    data.pop("_target_", None)
    try:
        settings = BertOptunaSweeperConf(**data)
    except TypeError as exc:
        raise ConfigError(f"hydra.sweeper: {exc}") from None
    from bert_sweep.search.study import storage_url
    from bert_sweep.storage_url import sqlite_path

    cwd = Path(str(OmegaConf.select(cfg, "hydra.runtime.cwd", default=".")))
    url = storage_url(settings.storage, Path(str(cfg.hydra.sweep.dir)), cwd)
    db = sqlite_path(url)
    if db is not None:
        why = why_not_writable(db.parent)
        if why is not None:
            raise ConfigError(f"hydra.sweeper.storage={url}: cannot create it: {why}")


def _validate_composed(cfg: DictConfig, multirun: bool) -> None:
    from bert_sweep.config.validate import validate
    from bert_sweep.tracking.settings import validate_tracking

    validate_tracking(cfg)
    if multirun:
        return  # a value a job rejects is recorded as that job's failure; the sweep goes on
    # the run dir is not known before the run; keep the check independent of it
    validate(task_config(cfg, "."))


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def _hydra_entry(cfg: DictConfig) -> dict:
    from bert_sweep.job import run_job

    return run_job(cfg)


# Hydra flags that take a value (their value is not an override).
_VALUE_FLAGS = {
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--info",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
}


def _overrides(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUE_FLAGS:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the command; the one place that maps outcomes to exit codes (bert_sweep.exits):
    0 PASS, a performance-only run or a finished sweep; 3 a run whose verdict is FAIL; 2 bad
    input or a refused run; 1 an internal crash; 130 Ctrl-C or SIGTERM."""
    argv = list(sys.argv[1:] if argv is None else argv)
    exits.handle_sigterm()
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:
        status = exits.take_status()
        interrupted = status is not None and status.code == exits.EXIT_INTERRUPTED
        print(
            f"bert_sweep: {status.message if interrupted else exits.interrupt_reason(exc)}",
            file=sys.stderr,
        )
        return exits.EXIT_INTERRUPTED
    except BrokenPipeError:  # `--help | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exits.EXIT_OK


def _main(argv: list[str]) -> int:
    register_configs()
    try:
        extra = precheck(_overrides(argv), multirun=bool({"-m", "--multirun"} & set(argv)))
    except BertSweepError as exc:
        print(f"bert_sweep: error: {exc}", file=sys.stderr)
        return exits.EXIT_USAGE
    if "tracking=none" in extra:  # the store cannot be reached and tracking is not required
        argv = [a for a in argv if not a.lstrip("+~").startswith(_TRACKING_KEYS)]
    argv += extra
    sys.argv = [sys.argv[0] if sys.argv else "bert_sweep", *argv]
    exits.take_status()  # an outcome left by an earlier call in this process is not ours
    _hydra_entry()
    status = exits.take_status()
    if status is None:
        return exits.EXIT_OK
    if status.message:
        print(f"bert_sweep: error: {status.message}", file=sys.stderr)
    return status.code


if __name__ == "__main__":
    sys.exit(main())
