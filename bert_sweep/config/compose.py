"""Compose conf/config.yaml as a job sees it: the one place that composes, sets HydraConfig and
validates (used by the CLI's precheck, the submission rerun and the tests).

Why HydraConfig is set: the config interpolates `${hydra:...}` (the run dir, the launch dir), which
only resolve while Hydra's singleton holds the composed `hydra` node. Why the culprit is searched
for: Hydra names no override when one fails to merge, so a bad value is pinned on the first
override whose addition breaks the composition, and the message says what type was expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, open_dict

from bert_sweep.config.schema import RunConfig
from bert_sweep.errors import ConfigError, one_line

CONFIG_NAME = "config"
_CONVERT = re.compile(r"could not be converted to (\w+)")
_EXPECTED = {
    "Integer": "an integer",
    "Float": "a number",
    "Boolean": "true or false",
    "String": "a string",
}


def _compose_raw(overrides: Sequence[str], job_name: str) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from bert_sweep.config import config_dir
    from bert_sweep.config.store import register_configs

    register_configs()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3", job_name=job_name):
        cfg = compose(CONFIG_NAME, overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def explain(exc: BaseException) -> str:
    """A composition error as `expected <type>` when it is a type mismatch, else one line."""
    text = one_line(exc)
    match = _CONVERT.search(text)
    if match:
        name = match.group(1)
        return f"expected {_EXPECTED.get(name, name.lower())}"
    return text


def compose(overrides: Sequence[str] = (), job_name: str = "bert_sweep") -> DictConfig:
    """conf/config.yaml + overrides, with its `hydra` node, HydraConfig set; a bad override is a
    one-line ConfigError naming that override alone."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    errors = (HydraException, OmegaConfBaseException)
    overrides = list(overrides)
    try:
        return _compose_raw(overrides, job_name)
    except errors as exc:
        culprit, error = " ".join(overrides), exc
        for i in range(len(overrides)):
            try:
                _compose_raw(overrides[: i + 1], job_name)
            except errors as first:
                culprit, error = overrides[i], first
                break
        raise ConfigError(f"{culprit}: {explain(error)}") from None


def task_config(cfg: DictConfig, output_dir: str | Path = ".") -> DictConfig:
    """The job's view of a composed config: without `hydra`, with its run dir as output_dir."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.pop("hydra", None)
    return cfg


def compose_run_config(
    overrides: Sequence[str] = (), output_dir: str | Path = ".", job_name: str = "bert_sweep"
) -> tuple[DictConfig, RunConfig]:
    """Compose and validate: (the job's DictConfig, its RunConfig)."""
    from bert_sweep.config.validate import validate

    cfg = task_config(compose(overrides, job_name), output_dir)
    return cfg, validate(cfg)
