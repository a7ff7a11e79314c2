"""One explicit list of ConfigStore entries: the schema each conf/ group validates against."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from bert_sweep.config import schema

# (group, name, node): YAML files in conf/<group>/ name these as `_self_`-less schema bases via
# their defaults list, e.g. `defaults: [base_onnx]` in conf/backend/onnx.yaml.
ENTRIES: list[tuple[str | None, str, type]] = [
    (None, "base_config", schema.RunConfig),
    ("model", "base_model", schema.ModelConfig),
    ("dataset", "base_dataset", schema.DatasetConfig),
    ("backend", "base_noop", schema.NoopBackendConfig),
    ("backend", "base_onnx", schema.OnnxBackendConfig),
    ("backend", "base_trt", schema.TrtBackendConfig),
    ("device", "base_device", schema.DeviceConfig),
    ("scenario", "base_scenario", schema.ScenarioConfig),
    ("profile", "base_profile", schema.ProfileConfig),
]


def register_configs() -> None:
    store = ConfigStore.instance()
    for group, name, node in ENTRIES:
        store.store(group=group, name=name, node=node)
