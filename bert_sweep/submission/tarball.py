"""`mlperf_submission.tar.gz`: the division folders of the tree, as pack_submission.sh packs them.

Members are the tree's own paths (`open/<submitter>/...`), in sorted order, with normalized
owner and mode (0644 files, 0755 folders) so the archive does not carry the packer's uid or a
private file mode. Written atomically (bert_sweep.atomic): a temp file beside it, then renamed.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from bert_sweep.atomic import atomic_path

TARBALL = "mlperf_submission.tar.gz"


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def make_tarball(tree_root: Path, out_path: Path) -> Path:
    """Pack every division folder under `tree_root` into `out_path` (a .tar.gz)."""
    tree_root, out_path = Path(tree_root), Path(out_path)
    with atomic_path(out_path) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for division in sorted(p for p in tree_root.iterdir() if p.is_dir()):
            tar.add(division, arcname=division.name, recursive=False, filter=_normalize)
            for path in sorted(division.rglob("*")):
                tar.add(
                    path,
                    arcname=path.relative_to(tree_root).as_posix(),
                    recursive=False,
                    filter=_normalize,
                )
    return out_path


def tarball_files(path: Path) -> list[str]:
    """The regular files in a tarball, sorted (what a test compares with the required set)."""
    with tarfile.open(path, "r:gz") as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())
