"""Typed config schema, ConfigStore registration, and locating conf/."""

from __future__ import annotations

from pathlib import Path


def config_dir() -> Path:
    """conf/ of a checkout, or the copy installed as the package `bert_sweep.conf`."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "conf", package / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    import importlib.util

    spec = importlib.util.find_spec("bert_sweep.conf")
    if spec and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise FileNotFoundError("bert_sweep: conf/ not found next to the package nor installed")
