"""Write the submission tree in the layout of the chosen checker version.

v6.x (checker v6.0/v6.1):
```
<division>/<submitter>/systems/<system>.json
<division>/<submitter>/src/<benchmark>/README.md
<division>/<submitter>/results/<system>/<benchmark>/<scenario>/
    README.md, user.conf, measurements.json
    .../<scenario>/performance/run_1/mlperf_log_summary.txt, mlperf_log_detail.txt
    .../<scenario>/accuracy/mlperf_log_summary.txt, mlperf_log_detail.txt,
                            mlperf_log_accuracy.json (truncated), accuracy.txt
    .../<scenario>/TEST01/...                                   (closed division only)
```
v5.1: the same results/ without README/user.conf/measurements.json, which live in
`measurements/<system>/<benchmark>/<scenario>/` (as `<system>_<scenario>.json`), code in
`code/<benchmark>/`, and TEST01 in `compliance/<system>/<benchmark>/<scenario>/TEST01/`.

The accuracy log is handled as the official truncate_accuracy_log.py does: `hash=<sha256 of the
full log>` is added to accuracy.txt, then the log is cut to its first and last 4,096 characters.
The tree is built in a temporary sibling folder and moved into place in one rename, so a failure
never leaves half a tree; every file is written with mode 0644 (the run folders use 0600 for
results.json, which must not leak into a tarball as unreadable files).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bert_sweep.errors import AssetError, ConfigError
from bert_sweep.submission.versions import (
    TRUNCATE_KEEP_CHARS,
    TRUNCATE_MARKER,
    CheckerVersion,
)

ACCURACY_LOG = "mlperf_log_accuracy.json"
DETAIL_LOG = "mlperf_log_detail.txt"
SUMMARY_LOG = "mlperf_log_summary.txt"
USER_CONF = "user.conf"
FILE_MODE = 0o644


@dataclass
class Test01Files:
    """A TEST01 compliance run and its verification (closed division)."""

    performance_dir: Path  # loadgen logs of the performance run with the TEST01 audit.config
    verify_accuracy: str  # verify_accuracy.txt text ("TEST PASS" when the logs agree)
    verify_performance: str  # verify_performance.txt text
    accuracy_files: dict[str, str] = field(default_factory=dict)  # extra TEST01/accuracy/ texts


@dataclass
class TreeSpec:
    """Everything the writer puts in the tree; paths point at finished loadgen test folders."""

    version: CheckerVersion
    division: str
    submitter: str
    system_id: str
    benchmark: str  # bert-99 | bert-99.9
    scenario: str  # loadgen spelling: Offline, Server, SingleStream, MultiStream
    accuracy_dir: Path  # AccuracyOnly test folder: summary, detail, mlperf_log_accuracy.json
    performance_dir: Path  # PerformanceOnly test folder: summary, detail, user.conf
    exact_match: float
    f1: float
    system_json: dict[str, Any]
    measurements: dict[str, Any]
    results_readme: str
    code_readme: str
    test01: Test01Files | None = None


@dataclass
class WrittenTree:
    root: Path  # the folder holding <division>/
    scenario_dir: Path  # results/<system>/<benchmark>/<scenario>
    accuracy_hash: str  # sha256 of the full accuracy log
    accuracy_log_bytes: int  # its size before truncation
    files: list[str]  # every file written, relative to root, sorted


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def truncated_log(path: Path) -> bytes:
    """Head and tail of an accuracy log as truncate_accuracy_log.py leaves it.

    Logs shorter than 4,096 characters are kept whole (the tool does not touch them). Loadgen's
    accuracy log is ASCII, so characters and bytes coincide.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size < TRUNCATE_KEEP_CHARS:
            return fh.read()
        head = fh.read(TRUNCATE_KEEP_CHARS)
        fh.seek(size - TRUNCATE_KEEP_CHARS)
        tail = fh.read(TRUNCATE_KEEP_CHARS)
    return head + TRUNCATE_MARKER.encode() + tail


def accuracy_text(exact_match: float, f1: float, digest: str) -> str:
    """accuracy.txt: the reference script's result line, then the truncation tool's hash line.

    Fixed-point numbers: the checker's F1 pattern reads `[\\d.]+`, which an exponent would break.
    """
    for name, value in (("exact_match", exact_match), ("f1", f1)):
        if not isinstance(value, int | float) or not 0 <= value <= 100:
            raise ConfigError(f"accuracy {name}={value!r}: expected a score in [0, 100]")
    return f'{{"exact_match": {exact_match:.6f}, "f1": {f1:.6f}}}\nhash={digest}\n'


class _Writer:
    """Writes files under a staging root with fixed permissions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[str] = []

    def bytes(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, FILE_MODE)
        self.files.append(rel)

    def text(self, rel: str, text: str) -> None:
        self.bytes(rel, text.encode("utf-8"))

    def json(self, rel: str, data: dict[str, Any]) -> None:
        self.text(rel, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def copy(self, rel: str, source: Path) -> None:
        if not source.is_file():
            raise AssetError(f"{source}: missing (expected a loadgen output file)")
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        os.chmod(path, FILE_MODE)
        self.files.append(rel)


def _layout(spec: TreeSpec) -> dict[str, str]:
    """Folder of each part, relative to the tree root, for the spec's checker version."""
    top = f"{spec.division}/{spec.submitter}"
    tail = f"{spec.system_id}/{spec.benchmark}/{spec.scenario}"
    results = f"{top}/results/{tail}"
    if spec.version.layout == "v6":
        return {
            "results": results,
            "measurements": results,
            "measurements_json": f"{results}/measurements.json",
            "compliance": results,
            "code": f"{top}/src/{spec.benchmark}",
            "systems": f"{top}/systems",
        }
    measurements = f"{top}/measurements/{tail}"
    return {
        "results": results,
        "measurements": measurements,
        "measurements_json": f"{measurements}/{spec.system_id}_{spec.scenario}.json",
        "compliance": f"{top}/compliance/{tail}",
        "code": f"{top}/code/{spec.benchmark}",
        "systems": f"{top}/systems",
    }


def write_tree(spec: TreeSpec, root: Path) -> WrittenTree:
    """Write the tree under `root` (which must not exist yet) and return what was written."""
    root = Path(root)
    if root.exists():
        raise ConfigError(f"{root}: already exists; expected a new folder for the submission tree")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".tmp"))
    try:
        written = _write(spec, staging)
        os.chmod(staging, 0o755)
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    scenario_dir = root / _layout(spec)["results"]
    return WrittenTree(root, scenario_dir, written[0], written[1], sorted(written[2]))


def _write(spec: TreeSpec, staging: Path) -> tuple[str, int, list[str]]:
    out = _Writer(staging)
    where = _layout(spec)
    out.json(f"{where['systems']}/{spec.system_id}.json", spec.system_json)
    out.text(f"{where['code']}/README.md", spec.code_readme)
    out.text(f"{where['measurements']}/README.md", spec.results_readme)
    out.copy(f"{where['measurements']}/{USER_CONF}", spec.performance_dir / USER_CONF)
    out.json(where["measurements_json"], spec.measurements)

    perf = f"{where['results']}/performance/run_1"
    for name in (SUMMARY_LOG, DETAIL_LOG):
        out.copy(f"{perf}/{name}", spec.performance_dir / name)

    acc = f"{where['results']}/accuracy"
    full_log = spec.accuracy_dir / ACCURACY_LOG
    if not full_log.is_file():
        raise AssetError(f"{full_log}: missing (the accuracy run's loadgen log)")
    digest = sha256_file(full_log)
    size = full_log.stat().st_size
    for name in (SUMMARY_LOG, DETAIL_LOG):
        out.copy(f"{acc}/{name}", spec.accuracy_dir / name)
    out.bytes(f"{acc}/{ACCURACY_LOG}", truncated_log(full_log))
    out.text(f"{acc}/accuracy.txt", accuracy_text(spec.exact_match, spec.f1, digest))

    if spec.test01 is not None:
        _write_test01(out, f"{where['compliance']}/TEST01", spec.test01)
    return digest, size, out.files


def _write_test01(out: _Writer, folder: str, test: Test01Files) -> None:
    """TEST01/: verify_*.txt, performance/run_1 logs, and the sampled accuracy log."""
    out.text(f"{folder}/verify_accuracy.txt", test.verify_accuracy)
    out.text(f"{folder}/verify_performance.txt", test.verify_performance)
    for name in (SUMMARY_LOG, DETAIL_LOG):
        out.copy(f"{folder}/performance/run_1/{name}", test.performance_dir / name)
    out.copy(f"{folder}/accuracy/{ACCURACY_LOG}", test.performance_dir / ACCURACY_LOG)
    for name, text in sorted(test.accuracy_files.items()):
        out.text(f"{folder}/accuracy/{name}", text)
