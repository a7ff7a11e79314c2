"""The tracking callback's settings (conf/tracking/mlflow.yaml), their checks, and file locks.

The settings live under `hydra.callbacks.tracking` rather than in the run's schema: tracking is
about recording runs, not about what a run measures, so it stays out of results.json's config and
out of the MLflow params. `tracking=none` swaps in Hydra's no-op callback.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bert_sweep.errors import ConfigError

CALLBACK_TARGET = "bert_sweep.tracking.callback.MlflowTrackingCallback"
SETTINGS_KEY = "hydra.callbacks.tracking"
# SQLAlchemy database URIs MLflow's SqlAlchemyStore accepts besides sqlite.
_DB_SCHEMES = re.compile(r"^(postgresql|mysql|mssql)(\+\w+)?://")
# How long a sqlite writer waits for another process's transaction before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 60


@dataclass(frozen=True)
class TrackingSettings:
    """Where runs are recorded and what goes with them; checked on construction."""

    uri: str
    artifact_root: str | None = None
    experiment: str | None = None
    single_run_experiment: str = "runs"
    log_artifacts: bool = True
    max_artifact_mb: float = 200

    def __post_init__(self) -> None:
        field = f"{SETTINGS_KEY}.uri"
        uri = self.uri
        if not isinstance(uri, str) or not uri:
            raise ConfigError(
                f"{field}={uri!r}: expected sqlite:///<file>.db or http(s)://<server>"
            )
        if uri.startswith("sqlite:"):
            path = _sqlite_file(uri)
            if path is None:
                raise ConfigError(
                    f"{field}={uri}: expected sqlite:///<path to a .db file> (a file every job "
                    "process can open, not :memory:)"
                )
        elif not (uri.startswith(("http://", "https://")) or _DB_SCHEMES.match(uri)):
            raise ConfigError(
                f"{field}={uri}: expected sqlite:///<file>.db, http(s)://<server> or a "
                "postgresql/mysql/mssql URI (MLflow's ./mlruns file store is deprecated)"
            )
        for name in ("experiment", "single_run_experiment"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"{SETTINGS_KEY}.{name}={value!r}: expected a non-empty name")
        if not isinstance(self.max_artifact_mb, int | float) or self.max_artifact_mb <= 0:
            raise ConfigError(
                f"{SETTINGS_KEY}.max_artifact_mb={self.max_artifact_mb!r}: expected a number > 0"
            )

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a sqlite store (None for servers and other databases)."""
        return _sqlite_file(self.uri) if self.uri.startswith("sqlite:") else None

    @property
    def client_uri(self) -> str:
        """The URI the MLflow client uses: a sqlite store gets a busy timeout, so concurrent jobs
        wait for each other's short write transactions instead of failing with "locked"."""
        if self.sqlite_path is None or "timeout=" in self.uri:
            return self.uri
        joiner = "&" if "?" in self.uri else "?"
        return f"{self.uri}{joiner}timeout={SQLITE_BUSY_TIMEOUT_S}"

    @property
    def ui_uri(self) -> str:
        """The store URI to give `mlflow ui --backend-store-uri`."""
        return self.uri

    @property
    def resolved_artifact_root(self) -> str | None:
        """`artifact_root` if set; `<db folder>/mlartifacts` for sqlite; None (the server's own
        choice) otherwise."""
        if self.artifact_root is not None:
            root = self.artifact_root
            return root if "://" in root else str(Path(root).expanduser().absolute())
        if self.sqlite_path is not None:
            return str(self.sqlite_path.parent / "mlartifacts")
        return None

    def artifact_location(self, experiment: str) -> str | None:
        """Where a new experiment keeps its artifacts: a folder named after it in the root."""
        root = self.resolved_artifact_root
        if root is None:
            return None
        folder = re.sub(r"[^\w.-]+", "_", experiment).strip("_") or "experiment"
        if "://" in root:
            return f"{root.rstrip('/')}/{folder}"
        return str(Path(root) / folder)

    def lock_file(self, fallback_dir: Path) -> Path:
        """A lock file every process on this machine that shares the store agrees on."""
        if self.sqlite_path is not None:
            return self.sqlite_path.with_name(self.sqlite_path.name + ".lock")
        return Path(fallback_dir) / ".mlflow-tracking.lock"


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path).expanduser().absolute()


def settings_from_node(node: Any) -> TrackingSettings | None:
    """Settings from the `hydra.callbacks.tracking` node; None when tracking is off."""
    from omegaconf import DictConfig, OmegaConf

    if node is None:
        return None
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    if not isinstance(data, dict) or data.get("_target_") != CALLBACK_TARGET:
        return None
    known = set(TrackingSettings.__dataclass_fields__)
    unknown = sorted(set(data) - known - {"_target_"})
    if unknown:
        raise ConfigError(
            f"{SETTINGS_KEY}.{unknown[0]}: unknown key, expected one of {sorted(known)}"
        )
    return TrackingSettings(**{k: v for k, v in data.items() if k != "_target_"})


def validate_tracking(cfg: Any) -> TrackingSettings | None:
    """Check the tracking settings of a config composed with its `hydra` node (for the CLI's
    precheck, so a bad URI stops the run with one line before any job starts)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        node = OmegaConf.select(cfg, SETTINGS_KEY)
        return settings_from_node(node)
    except OmegaConfBaseException as exc:
        message = " ".join(str(exc).split("\n")[0].split())
        raise ConfigError(f"{SETTINGS_KEY}: {message}") from None


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (blocking, no polling) shared by processes on this machine."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
