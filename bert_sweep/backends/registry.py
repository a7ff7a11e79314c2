"""The one list of backends: every other place that needs to know them reads it.

`BACKENDS` holds each backend's config dataclass (`backends/<name>/config.py`); from it the
ConfigStore gets, per backend, the selectable option `backend/<name>`: the dataclass itself (its
type checks every override) with its KNOBS interpolated from the run's top-level knobs, so
`backend=<name>` needs no YAML file. `register_backend` adds one more at run time
(a plugin, or a test's throwaway backend) the same way.
"""

from __future__ import annotations

from bert_sweep.backends.config import BackendConfig
from bert_sweep.backends.deepsparse.config import DeepsparseConfig
from bert_sweep.backends.noop.config import NoopConfig
from bert_sweep.backends.onnx.config import OnnxConfig
from bert_sweep.backends.openvino.config import OpenvinoConfig
from bert_sweep.backends.torch.config import TorchConfig
from bert_sweep.backends.trt.config import TrtConfig
from bert_sweep.errors import ConfigError

BACKENDS: list[type[BackendConfig]] = [
    NoopConfig,
    OnnxConfig,
    TrtConfig,
    OpenvinoConfig,
    TorchConfig,
    DeepsparseConfig,
]


def backend_name(cls: type[BackendConfig]) -> str:
    """The `backend=<name>` of a config class (its `name` field's default)."""
    name = cls.__dataclass_fields__["name"].default
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{cls.__name__}: expected a default for its `name` field")
    return name


def _target(cls: type[BackendConfig]) -> str:
    return cls.__dataclass_fields__["_target_"].default


def store_backend(cls: type[BackendConfig]) -> None:
    """Put the option `backend/<name>` (typed by the dataclass) in the ConfigStore."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    name = backend_name(cls)
    store = ConfigStore.instance()
    option = OmegaConf.structured(cls)
    for key, value in cls.KNOBS.items():
        option[key] = value
    store.store(group="backend", name=name, node=option)


def store_all() -> None:
    """The ConfigStore's backend group, exactly the list (an unlisted backend is no option)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().repo.get("backend", {}).clear()
    for cls in BACKENDS:
        store_backend(cls)


def register_backend(cls: type[BackendConfig]) -> type[BackendConfig]:
    """Add a backend (its config dataclass) to the list and the ConfigStore; usable as a class
    decorator. A second registration of the same name replaces the first."""
    if not (isinstance(cls, type) and issubclass(cls, BackendConfig)):
        raise ConfigError(
            f"{cls!r}: expected a subclass of bert_sweep.backends.config.BackendConfig"
        )
    name = backend_name(cls)
    BACKENDS[:] = [c for c in BACKENDS if backend_name(c) != name] + [cls]
    store_backend(cls)
    return cls


def names() -> list[str]:
    return [backend_name(c) for c in BACKENDS]


def by_name(name: str | None) -> type[BackendConfig] | None:
    return next((c for c in BACKENDS if backend_name(c) == name), None)


def by_target(target: str | None) -> type[BackendConfig] | None:
    """The config class of an implementation path; also the pre-registry paths of results.json
    files written before backends became packages (`bert_sweep.backends.onnx.OnnxBackend`)."""
    for cls in BACKENDS:
        new = _target(cls)
        module, _, name = new.rpartition(".")
        if target in (new, f"{module.removesuffix('.backend')}.{name}"):
            return cls
    return None


def config_from_dict(data: dict) -> BackendConfig:
    """A backend's dict (with `_target_`) rebuilt into its validated dataclass."""
    target = data.get("_target_") if isinstance(data, dict) else None
    cls = by_target(target) or by_name(data.get("name") if isinstance(data, dict) else None)
    if cls is None:
        raise ConfigError(
            f"backend._target_={target!r}: not a registered backend (known: {names()})"
        )
    return cls.from_dict(data | {"_target_": _target(cls)})


def engine_packages() -> list[str]:
    """Every registered backend's packages (recorded with their versions when installed)."""
    out: list[str] = []
    for cls in BACKENDS:
        for package in (cls.ENGINE_PACKAGE, *cls.PACKAGES):
            if package and package not in out:
                out.append(package)
    return out
