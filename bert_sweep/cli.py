"""Command line: `python -m bert_sweep [overrides]` / `bert-sweep`, single runs and `-m` sweeps.

Bad overrides are caught before Hydra starts (one line naming the override and what was expected,
exit 2); errors inside a job end a single run with one line and exit 2, but in a sweep they are
recorded in that job's results.json and the sweep goes on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from bert_sweep.config import config_dir
from bert_sweep.config.store import register_configs
from bert_sweep.errors import BertSweepError, ConfigError

EXIT_USAGE = 2


def _group_options(group: str) -> list[str]:
    folder = config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause).strip():
        text += f": {str(cause).strip().splitlines()[0]}"
    return text


def precheck(overrides: list[str], multirun: bool = False) -> None:
    """Compose the config before Hydra runs, so bad input fails fast with one line.

    The whole command line is composed once (sweeps at their first value); each value of a sweep
    override (`batch=32,64`, `range(...)`) is then composed on its own. Unknown group options and
    values of the wrong type stop a sweep before it starts; values a job's schema rejects (a
    backend that does not take a precision, say) fail only that job, recorded with the reason.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(f"cannot parse overrides: {' '.join(str(exc).split())}") from None
    base, variants = [], []
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
    with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="precheck"):
        for i, attempt in enumerate([base, *[[*base, v] for v in variants]]):
            try:
                cfg = compose("config", overrides=attempt, return_hydra_config=True)
            except (HydraException, OmegaConfBaseException) as exc:
                culprit = attempt[-1] if i else " ".join(attempt)
                raise ConfigError(f"{culprit}: {_one_line(exc)}") from None
            _validate_composed(cfg, check_dirs=(i == 0), multirun=multirun)


def _check_writable(field: str, path: Path) -> None:
    """The nearest existing ancestor of `path` must be a writable folder."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise ConfigError(f"{field}={path}: cannot create it ({probe} is not a writable folder)")


def _validate_composed(cfg: DictConfig, check_dirs: bool, multirun: bool) -> None:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from bert_sweep.config.validate import validate

    HydraConfig.instance().set_config(cfg)
    if check_dirs:
        key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
        _check_writable(key, Path(str(OmegaConf.select(cfg, key))))
        _check_writable("assets.cache_dir", Path(str(cfg.assets.cache_dir)).expanduser())
    from bert_sweep.tracking.settings import validate_tracking

    validate_tracking(cfg)
    if multirun:
        return  # a value a job rejects is recorded as that job's failure; the sweep goes on
    with open_dict(cfg):
        cfg.paths.output_dir = "."  # not known before the run; keep the check independent of it
        del cfg["hydra"]
    validate(cfg)


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


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    register_configs()
    try:
        precheck(_overrides(argv), multirun=bool({"-m", "--multirun"} & set(argv)))
    except BertSweepError as exc:
        print(f"bert_sweep: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.argv = [sys.argv[0] if sys.argv else "bert_sweep", *argv]
    _hydra_entry()


if __name__ == "__main__":
    main()
