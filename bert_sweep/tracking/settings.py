"""The tracking callback's settings (conf/tracking/mlflow.yaml), their checks, the store probe.

The settings live under `hydra.callbacks.tracking` rather than in the run's schema: tracking is
about recording runs, not about what a run measures, so it stays out of results.json's config and
out of the MLflow params. `tracking=none` swaps in Hydra's no-op callback.

Why a probe before the first job: MLflow retries an unreachable server for minutes and a sqlite
store it cannot create only warns, so a run would end "successfully" with nothing recorded. The
CLI's precheck probes the store in seconds (an HTTP request with a short timeout; creating the
sqlite file's folder and a file in it) and stops with one line, unless `required=false` asks to go
on without tracking.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bert_sweep.errors import ConfigError
from bert_sweep.probe import why_not_writable
from bert_sweep.storage_url import sqlite_path

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
    required: bool = True  # false: a store that cannot be reached is a warning, runs go on

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
        if not isinstance(self.required, bool):
            raise ConfigError(f"{SETTINGS_KEY}.required={self.required!r}: expected true or false")

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

    def lock_file(self) -> Path:
        """A lock file every process on this machine that shares the store agrees on: beside a
        sqlite file; for a server, in the temp folder (never in a run dir, which a run killed
        while waiting for the server would leave holding nothing but the lock)."""
        if self.sqlite_path is not None:
            return self.sqlite_path.with_name(self.sqlite_path.name + ".lock")
        key = hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"bert_sweep-tracking-{key}.lock"


def _sqlite_file(uri: str) -> Path | None:
    path = sqlite_path(uri)
    return path.absolute() if path is not None else None


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


PROBE_TIMEOUT_S = 5.0  # a tracking server that has not answered by then is not there


def probe_store(settings: TrackingSettings) -> str | None:
    """Why the store cannot record runs (one line), or None when it can: a sqlite store's folder
    must take a new file; a server must answer HTTP at all (any status: it is there)."""
    db = settings.sqlite_path
    if db is not None:
        if db.exists() and not db.is_file():
            return f"{db} is not a file"
        return why_not_writable(db.parent)
    if settings.uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            url = settings.uri.rstrip("/") + "/health"
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):
                pass
        except urllib.error.HTTPError:
            return None  # it answered
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return f"no answer from the server in {PROBE_TIMEOUT_S:g} s ({reason})"
    return None


__all__ = [
    "TrackingSettings",
    "probe_store",
    "settings_from_node",
    "validate_tracking",
]
