"""Get an official file into the cache: cache hit, else a local mirror folder, else the URL.

Every file is verified by md5. Hashing a 1.3 GB model on every run would cost seconds, so a
verified file gets a sidecar `<name>.md5` holding its md5, size and mtime: while size and mtime
are unchanged the file counts as verified. Copies and downloads land under temporary names in the
cache folder and are renamed into place only once verified, so an interrupted run never leaves a
half-written file under the real name. Downloads resume from `<name>.part` with an HTTP Range
request, because the model files are large and Zenodo connections do drop.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bert_sweep.assets.catalog import RemoteFile
from bert_sweep.errors import AssetError

_CHUNK = 1 << 20
_TIMEOUT_S = 30.0
_RETRIES = 3  # extra attempts, only after an attempt that received some bytes


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


# -- verification sidecar --------------------------------------------------------------------
def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".md5")


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _write_sidecar(path: Path, md5: str) -> None:
    size, mtime = _stamp(path)
    _atomic_write_text(_sidecar(path), f"{md5} {size} {mtime}\n")


def _sidecar_md5(path: Path) -> str | None:
    """The md5 remembered for `path` if the file is unchanged since it was recorded."""
    try:
        md5, size, mtime = _sidecar(path).read_text(encoding="ascii").split()
        return md5 if (int(size), int(mtime)) == _stamp(path) else None
    except (OSError, ValueError):
        return None


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def verified_md5(path: Path) -> str:
    """md5 of `path`, from its sidecar when the file is unchanged, else hashed (and recorded)."""
    known = _sidecar_md5(path)
    if known is not None:
        return known
    md5 = md5_of(path)
    # A read-only folder just means hashing again next time.
    with contextlib.suppress(OSError):
        _write_sidecar(path, md5)
    return md5


def _mismatch(what: str, path: Path, remote: RemoteFile, actual: str) -> AssetError:
    return AssetError(
        f"{remote.name}: {what} {path} has md5 {actual}, expected {remote.md5}; "
        "delete or replace it"
    )


# -- mirror ----------------------------------------------------------------------------------
def _mirror_dir(mirror: str | Path) -> Path:
    text = str(mirror)
    if "://" in text:
        parsed = urllib.parse.urlparse(text)
        if parsed.scheme != "file":
            raise AssetError(f"mirror={text!r}: expected a local folder or a file:// URL")
        return Path(urllib.request.url2pathname(parsed.path))
    return Path(text).expanduser()


def _copy_verified(src: Path, dest: Path, remote: RemoteFile) -> None:
    """Copy src to dest through a temp file in dest's folder, hashing on the way."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        digest = hashlib.md5()
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            while block := fin.read(_CHUNK):
                digest.update(block)
                fout.write(block)
        if digest.hexdigest() != remote.md5:
            raise _mismatch("mirror file", src, remote, digest.hexdigest())
        shutil.copystat(src, tmp)
        os.replace(tmp, dest)
        _write_sidecar(dest, remote.md5)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _find_in_mirror(folder: Path, remote: RemoteFile) -> Path | None:
    """`<folder>/<name>`, else a regular file of the expected size and md5 (any name)."""
    named = folder / remote.name
    if named.is_file():
        return named  # verified (and a mismatch reported) while copying
    if remote.size is None:
        return None  # hashing every file of unknown relevance would be too slow
    for candidate in sorted(folder.iterdir()):
        if (
            candidate.is_file()
            and candidate.stat().st_size == remote.size
            and md5_of(candidate) == remote.md5
        ):
            return candidate
    return None


# -- download --------------------------------------------------------------------------------
def _download_once(remote: RemoteFile, part: Path, progress: bool, timeout: float) -> int:
    """One HTTP attempt appending to `part`; returns the bytes received. Raises on failure."""
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(remote.url, headers={"User-Agent": "bert_sweep"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part may be complete
            return 0
        raise
    received = 0
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored Range: start over
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        total = have + expected if expected is not None else remote.size
        with (
            open(part, "ab" if have else "wb") as out,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=remote.name,
                disable=not progress,
            ) as bar,
        ):
            while block := response.read(_CHUNK):
                out.write(block)
                received += len(block)
                bar.update(len(block))
    if expected is not None and received < expected:
        raise ConnectionError(f"connection closed after {have + received} bytes")
    return received


def _download(remote: RemoteFile, dest: Path, progress: bool, timeout: float) -> None:
    part = dest.with_name(dest.name + ".part")
    for attempt in range(_RETRIES + 1):
        before = part.stat().st_size if part.exists() else 0
        try:
            _download_once(remote, part, progress, timeout)
            break
        except (OSError, urllib.error.URLError, ValueError) as exc:
            # Retry (resuming) only when this attempt made progress: a dropped connection.
            progressed = part.exists() and part.stat().st_size > before
            if attempt == _RETRIES or not progressed or isinstance(exc, urllib.error.HTTPError):
                raise
    actual = md5_of(part)
    if actual != remote.md5:
        part.unlink()
        raise AssetError(
            f"{remote.name}: download of {remote.url} has md5 {actual}, expected {remote.md5} "
            "(deleted; try again)"
        )
    os.replace(part, dest)
    _write_sidecar(dest, remote.md5)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def fetch(
    remote: RemoteFile,
    cache_dir: Path,
    mirror: str | Path | None = None,
    offline: bool = False,
    progress: bool = True,
    timeout: float = _TIMEOUT_S,
) -> Path:
    """Path of a verified `<cache_dir>/<name>`: from the cache, a mirror folder, or the URL.

    `mirror` is a local folder (or file:// URL) holding the file under its own name or any other
    name (matched by size and md5). `offline=True` never touches the network. Failure raises one
    AssetError line saying where we looked and where to place the file by hand.
    """
    cache_dir = Path(cache_dir).expanduser()
    dest = cache_dir / remote.name
    if dest.is_file():
        actual = verified_md5(dest)
        if actual != remote.md5:
            raise _mismatch("cached file", dest, remote, actual)
        return dest
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AssetError(f"{remote.name}: cannot create cache folder {cache_dir} ({exc})") from None

    if mirror is None:
        mirror_note = "no mirror given"
    else:
        folder = _mirror_dir(mirror)
        source = _find_in_mirror(folder, remote) if folder.is_dir() else None
        if source is not None:
            _copy_verified(source, dest, remote)
            return dest
        mirror_note = f"not in mirror {folder}" + ("" if folder.is_dir() else " (no such folder)")

    if offline:
        download_note = f"download of {remote.url} skipped (offline)"
    else:
        try:
            _download(remote, dest, progress, timeout)
            return dest
        except AssetError:
            raise
        except (OSError, urllib.error.URLError, ValueError) as exc:
            download_note = f"download of {remote.url} failed ({_reason(exc)})"
    raise AssetError(
        f"{remote.name}: not in cache {cache_dir}, {mirror_note}, {download_note}; "
        f"place the file by hand at {dest} (md5 {remote.md5})"
    )
