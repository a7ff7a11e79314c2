"""One explicit list of ConfigStore entries: the schema each conf/ group validates against.

Backends are not listed here: each is stored from the one backend list (backends/registry.py),
as its schema node and as its selectable `backend=<name>` option."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from bert_sweep.config import schema

# (group, name, node): YAML files in conf/<group>/ name these as `_self_`-less schema bases via
# their defaults list, e.g. `defaults: [base_model]` in conf/model/embedded.yaml.
ENTRIES: list[tuple[str | None, str, type]] = [
    (None, "base_config", schema.RunConfig),
    ("model", "base_model", schema.ModelConfig),
    ("dataset", "base_dataset", schema.DatasetConfig),
    ("device", "base_device", schema.DeviceConfig),
    ("scenario", "base_scenario", schema.ScenarioConfig),
    ("profile", "base_profile", schema.ProfileConfig),
]


# Groups of conf/ that are Hydra's (hydra/) or selected with `+group=` (added, not replaced).
_HIDDEN_GROUPS = ("hydra",)
_ADDED_GROUPS = ("search",)


def groups_help() -> str:
    """`group: option, option, ...` for every conf/ group (--help, conf/hydra/help/): the YAML
    options only, not the schema nodes registered above, which are not choices."""
    from bert_sweep.backends import registry
    from bert_sweep.config import config_dir

    lines = []
    folders = {p for p in config_dir().iterdir() if p.is_dir()} | {config_dir() / "backend"}
    for folder in sorted(folders):
        options = sorted(p.stem for p in folder.glob("*.yaml"))
        if folder.name == "backend":  # stored from the backend list, not YAML files
            options = sorted(set(options) | set(registry.names()))
        if folder.name in _HIDDEN_GROUPS or not options:
            continue
        name = f"+{folder.name}" if folder.name in _ADDED_GROUPS else folder.name
        lines.append(f"  {name:<10} {' | '.join(options)}")
    return "\n".join(lines)


def register_configs() -> None:
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    for group, name, node in ENTRIES:
        store.store(group=group, name=name, node=node)
    from bert_sweep.backends import registry

    registry.store_all()
    OmegaConf.register_new_resolver("bert_sweep_groups", groups_help, replace=True)
