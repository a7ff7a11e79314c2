"""Full-content identity of files (sha256 and md5 in one read), hashed once per file version.

Why full hashes: a key made of a model's size and its first and last MiB let a model with one
weight edited mid-file reuse another model's accuracy (a stale PASS). Every cache keyed by a model
(accuracy reuse, prepared models, the embedded build, verified downloads) uses this module.

Why a remembered hash: hashing a 1.3 GB model costs seconds, so each file's hashes are stored in a
small JSON file under `<cache_dir>/digests/` (written atomically: parallel jobs share it) with the
file's stamp, and reused while the stamp is unchanged. The stamp is (resolved path, size, mtime_ns,
ctime_ns, inode, device). mtime alone cannot be trusted: any program sets it back (`os.utime`,
`cp -p`, `tar`, `rsync -t`). ctime can't be: the kernel sets it to "now" on every write, chmod,
rename and utime, and no system call sets it to a chosen value, so an edit followed by restoring
size and mtime still changes the stamp. The inode catches a file replaced by another one.

Timestamps have a granularity (a clock tick; a second on some filesystems), so an edit made in the
same tick as the hashing could keep the ctime. As git does for its index ("racy clean"), an entry
is trusted only for a file whose ctime is at least SETTLE_NS older than the entry itself (the
entry file's mtime, from the same kind of clock); a younger one is hashed again and the entry
rewritten, which costs one extra hash of a file that was just written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from bert_sweep.atomic import write_json_atomic

DIGESTS_DIR = "digests"
_CHUNK = 1 << 20
_FORMAT = 1
SETTLE_NS = 2_000_000_000  # covers 1-2 s timestamp granularity


def digest_dir(cache_dir: Path) -> Path:
    """Where the remembered hashes of files used with `cache_dir` live."""
    return Path(cache_dir) / DIGESTS_DIR


def hash_file(path: Path) -> dict[str, str]:
    """sha256 and md5 of the whole file, in one read."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            sha.update(block)
            md5.update(block)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def _stamp(path: Path) -> list:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _entry_path(store: Path, resolved: Path) -> Path:
    return store / f"{hashlib.sha256(str(resolved).encode()).hexdigest()[:32]}.json"


def remember(path: Path, hashes: dict[str, str], store: Path | None) -> None:
    """Record hashes the caller computed while writing `path` (a copy, a download), so the
    first reader does not hash it again. Call it after the file's last rename or chmod."""
    if store is None:
        return
    resolved = Path(path).resolve()
    entry = {"format": _FORMAT, "path": str(resolved), "stamp": _stamp(resolved), **hashes}
    with contextlib.suppress(OSError):  # a read-only cache only means hashing again next time
        write_json_atomic(_entry_path(Path(store), resolved), entry)


def file_hashes(path: Path, store: Path | None) -> dict[str, str]:
    """{"sha256", "md5"} of `path`: remembered in `store` while the file's stamp is unchanged,
    else hashed (and remembered). `store=None` always hashes."""
    resolved = Path(path).resolve()
    before = _stamp(resolved)
    entry_path = _entry_path(Path(store), resolved) if store is not None else None
    if entry_path is not None:
        try:
            written_ns = entry_path.stat().st_mtime_ns
            entry = json.loads(entry_path.read_text(encoding="utf-8"))
            if (
                entry.get("format") == _FORMAT
                and entry.get("path") == str(resolved)
                and entry.get("stamp") == before
                and before[2] <= written_ns - SETTLE_NS  # not racy: see the module docstring
            ):
                return {"sha256": entry["sha256"], "md5": entry["md5"]}
        except (OSError, ValueError, KeyError, AttributeError, TypeError):
            pass  # missing or damaged entry: hash again
    hashes = hash_file(resolved)
    if entry_path is not None and _stamp(resolved) == before:  # not changed while we read it
        remember(resolved, hashes, store)
    return hashes


def sha256_file(path: Path, store: Path | None) -> str:
    """Full sha256 of `path` (see `file_hashes`)."""
    return file_hashes(path, store)["sha256"]
