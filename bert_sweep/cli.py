"""Command line: `python -m bert_sweep [overrides]` / `bert-sweep`, single runs and `-m` sweeps.

Bad overrides are caught before Hydra starts (one line naming the override and what was expected,
exit 2); errors inside a job end a single run with one line and exit 2, but in a sweep they are
recorded in that job's results.json and the sweep goes on.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

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


def precheck(overrides: list[str]) -> None:
    """Compose each override value once so bad input fails fast with one line.

    Sweep overrides (`batch=32,64`, `range(...)`) are expanded and each value checked on its own.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from bert_sweep.config.validate import validate

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(f"cannot parse overrides: {' '.join(str(exc).split())}") from None
    plain = [o for o in parsed if not o.is_hydra_override()]
    with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="precheck"):
        for o in plain:
            key = o.get_key_element()
            values = (
                [str(v) for v in o.sweep_string_iterator()] if o.is_sweep_override() else [None]
            )
            for value in values:
                text = o.input_line if value is None else f"{key}={value}"
                group_options = _group_options(key.lstrip("+~"))
                if group_options and not key.startswith("~"):
                    choice = value if value is not None else o.value()
                    if not isinstance(choice, str) or choice not in group_options:
                        raise ConfigError(f"{key}={choice}: expected one of {group_options}")
                try:
                    cfg = compose("config", overrides=[text], return_hydra_config=True)
                except (HydraException, OmegaConfBaseException) as exc:
                    raise ConfigError(f"{text}: {_one_line(exc)}") from None
                _validate_composed(cfg, validate)


def _validate_composed(cfg: DictConfig, validate) -> None:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = "."  # not known before the run; keep the check independent of it
        del cfg["hydra"]
    validate(cfg)


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def _hydra_entry(cfg: DictConfig) -> float | None:
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
        precheck(_overrides(argv))
    except BertSweepError as exc:
        print(f"bert_sweep: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.argv = [sys.argv[0] if sys.argv else "bert_sweep", *argv]
    _hydra_entry()


if __name__ == "__main__":
    main()
