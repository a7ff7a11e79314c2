"""Turn a composed DictConfig into checked schema objects (runs every __post_init__)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bert_sweep.config.schema import RunConfig
from bert_sweep.errors import ConfigError


def validate(cfg: DictConfig) -> RunConfig:
    """Resolve interpolations and build the dataclasses; errors become one-line ConfigErrors."""
    try:
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or ""
        msg = str(exc).splitlines()[0]
        raise ConfigError(f"{key}: {msg}" if key else msg) from None
    if not isinstance(obj, RunConfig):
        raise ConfigError("config root is not a RunConfig (is `base_config` in the defaults list?)")
    return obj
