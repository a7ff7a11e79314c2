"""Atomic file writes: a temp file in the same folder, then rename, so no reader (and no killed
process) ever leaves half a file behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temp path beside `path` to write (by any means: a library's `save(tmp)`, a download);
    it replaces `path` when the block ends without an exception, and is removed otherwise.

    `suffix` matters to writers that pick a format from the name (numpy's `.npz`, onnx's
    `.onnx`): the temp path ends with it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are shared and packaged
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO]:
    """Open a temp file beside `path` for a streamed write ("w" text, "wb" binary); it replaces
    `path` only when the block ends without an exception."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r}: expected 'w' or 'wb'")
    with atomic_path(path) as tmp:
        kwargs = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
        with open(tmp, mode, **kwargs) as fh:
            yield fh


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_json_atomic(path: Path, data: Any, indent: int | None = 2) -> Path:
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=str)
    return write_text_atomic(path, text + "\n")
