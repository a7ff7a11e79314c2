"""The one advisory file lock of the project (embedded builds, study creation, tracking store).

Why flock: it is released by the kernel when the holder dies (even on SIGKILL), so a killed
builder or worker never leaves a lock that blocks the next run; and a blocked waiter sleeps in the
kernel instead of polling.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on `path` (created if needed) for the `with` block.

    Yields True when the lock is held. With `blocking=False` it yields False at once when another
    process holds it (the block then runs without the lock: the caller decides what to skip).
    OSError from creating the file propagates, for the caller to word as its own error.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            held = True
        except BlockingIOError:
            held = False
        yield held
    finally:
        if held:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
