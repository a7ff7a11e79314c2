"""Database URLs (Optuna storage, MLflow store): the one parser of `sqlite:///` file URLs.

SQLAlchemy's form: `sqlite:///relative/path.db` (three slashes) and `sqlite:////abs/path.db`
(four); `sqlite:///:memory:` and a bare `sqlite://` are in-memory (no file). A query string
(`?timeout=30`) is not part of the path.
"""

from __future__ import annotations

from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(url: str, base: Path | None = None) -> Path | None:
    """The database file of a sqlite URL (relative paths against `base`, default the cwd), or
    None for a non-sqlite or in-memory URL."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    path = url[len(SQLITE_PREFIX) :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else (Path(base) if base else Path.cwd()) / p


def absolute_sqlite_url(url: str, base: Path) -> str:
    """The same URL with a relative sqlite path made absolute against `base` (so every worker,
    the dashboard and the UI agree on one file); other URLs unchanged."""
    path = sqlite_path(url, base)
    if path is None or Path(url[len(SQLITE_PREFIX) :].split("?", 1)[0]).is_absolute():
        return url
    query = url.split("?", 1)[1] if "?" in url else None
    return SQLITE_PREFIX + str(path.resolve()) + (f"?{query}" if query else "")
