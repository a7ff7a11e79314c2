"""Get an official file into the cache: cache hit, else a local mirror folder, else the URL.

Every file is verified by md5. Hashing a 1.3 GB model on every run would cost seconds, so the
hashes of a verified file are remembered by assets.digest (keyed by the file's stamp, ctime
included: an edit is seen even when size and mtime are put back). Mirror copies land under a
temporary name (bert_sweep.atomic) and are renamed into place only once verified, so an
interrupted run never leaves a half-written file under the real name. Downloads keep their own
stable temporary name, `<name>.part`, because a fixed name is what lets the next attempt resume it
with an HTTP Range request (the model files are large and Zenodo connections do drop); it is
renamed into place only once its md5 matches.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bert_sweep.assets.catalog import RemoteFile
from bert_sweep.assets.digest import digest_dir, file_hashes, hash_file, remember
from bert_sweep.atomic import atomic_open
from bert_sweep.errors import AssetError

_CHUNK = 1 << 20
_TIMEOUT_S = 30.0
_RETRIES = 3  # extra attempts, only after an attempt that received some bytes


def verified_md5(path: Path, digests: Path | None) -> str:
    """md5 of `path`, remembered in `digests` while the file is unchanged, else hashed."""
    return file_hashes(path, digests)["md5"]


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


def _copy_verified(src: Path, dest: Path, remote: RemoteFile, digests: Path | None) -> None:
    """Copy src to dest through a temp file in dest's folder, hashing on the way."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(src, "rb") as fin, atomic_open(dest, "wb") as fout:
        while block := fin.read(_CHUNK):
            md5.update(block)
            sha.update(block)
            fout.write(block)
        if md5.hexdigest() != remote.md5:
            raise _mismatch("mirror file", src, remote, md5.hexdigest())
    remember(dest, {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}, digests)


def _find_in_mirror(folder: Path, remote: RemoteFile, digests: Path | None) -> Path | None:
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
            and verified_md5(candidate, digests) == remote.md5
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


def _download(
    remote: RemoteFile, dest: Path, progress: bool, timeout: float, digests: Path | None
) -> None:
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
    hashes = hash_file(part)
    if hashes["md5"] != remote.md5:
        part.unlink()
        raise AssetError(
            f"{remote.name}: download of {remote.url} has md5 {hashes['md5']}, expected "
            f"{remote.md5} (deleted; try again)"
        )
    os.replace(part, dest)
    remember(dest, hashes, digests)  # after the rename: it changes the file's ctime


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
    digests: Path | None = None,
) -> Path:
    """Path of a verified `<cache_dir>/<name>`: from the cache, a mirror folder, or the URL.

    `mirror` is a local folder (or file:// URL) holding the file under its own name or any other
    name (matched by size and md5). `offline=True` never touches the network. Failure raises one
    AssetError line saying where we looked and where to place the file by hand. `digests` is
    where verified hashes are remembered (default `<cache_dir>/digests`).
    """
    cache_dir = Path(cache_dir).expanduser()
    digests = digest_dir(cache_dir) if digests is None else Path(digests)
    dest = cache_dir / remote.name
    if dest.is_file():
        actual = verified_md5(dest, digests)
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
        source = _find_in_mirror(folder, remote, digests) if folder.is_dir() else None
        if source is not None:
            _copy_verified(source, dest, remote, digests)
            return dest
        mirror_note = f"not in mirror {folder}" + ("" if folder.is_dir() else " (no such folder)")

    if offline:
        download_note = f"download of {remote.url} skipped (offline)"
    else:
        try:
            _download(remote, dest, progress, timeout, digests)
            return dest
        except AssetError:
            raise
        except (OSError, urllib.error.URLError, ValueError) as exc:
            download_note = f"download of {remote.url} failed ({_reason(exc)})"
    raise AssetError(
        f"{remote.name}: not in cache {cache_dir}, {mirror_note}, {download_note}; "
        f"place the file by hand at {dest} (md5 {remote.md5})"
    )
