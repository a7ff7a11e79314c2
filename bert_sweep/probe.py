"""Can this process create files at a path? Asked by trying, not by `os.access`.

Why: `os.access(W_OK)` is true for root almost everywhere, /proc and /sys included, where nothing
can be created; a run would then fail minutes later with a traceback. So the probe creates the
missing folders and a file in the deepest one, and removes all it made.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def why_not_writable(folder: Path) -> str | None:
    """None when files can be created in `folder` (made if missing); else the reason, one line.
    Folders created for the probe are removed again."""
    folder = Path(folder)
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a writable folder (not a folder)"
    made: list[Path] = []
    try:
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue  # made meanwhile by a parallel worker of the same sweep: not ours
            made.append(path)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".bert_sweep-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        where = Path(exc.filename) if exc.filename else folder
        return f"{where} is not a writable folder ({exc.strerror or type(exc).__name__})"
    finally:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir()
    return None
