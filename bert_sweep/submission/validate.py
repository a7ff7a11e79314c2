"""Validate a submission tree the way the official checker walks it; list every violation.

Walk: <root>/<division>/<submitter>/{systems,results,src|code[,measurements,compliance]}/...
For each results/<system>/<benchmark>/<scenario> the rules of rules.py run on its logs, systems
JSON, measurements and (closed) TEST01 folder. Around that, the repository rules of the older
checker and repository_checks.sh: no symlinks, dot names, spaces, __pycache__, empty folders or
files over 50 MB; the root holds only division folders; and every file must be one the layout
expects (anything under src/ or code/ aside), so a stray predictions.json is reported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bert_sweep.errors import BertSweepError
from bert_sweep.harness.mllog import LoadgenLog, parse_detail_log
from bert_sweep.submission import rules
from bert_sweep.submission.rules import Violation
from bert_sweep.submission.versions import (
    ACCURACY_FILES,
    BENCHMARKS,
    MAX_ACCURACY_LOG_BYTES,
    MAX_FILE_BYTES,
    MEASUREMENT_FILES,
    PERFORMANCE_FILES,
    REQUIRED_SCENARIOS_CLOSED,
    CheckerVersion,
)
from bert_sweep.submission.versions import RESULT_KEYS as _RESULT_KEYS

DIVISIONS = ("open", "closed", "network")
SCENARIOS = tuple(_RESULT_KEYS)
OPTIONAL_PERF_FILES = ("mlperf_log_accuracy.json",)
TEST01_ACC_FALLBACK = (
    "accuracy.txt",
    "baseline_accuracy.txt",
    "compliance_accuracy.txt",
    "mlperf_log_accuracy.json",
)


@dataclass
class ResultRecord:
    """What the walk learned about one results/<system>/<benchmark>/<scenario> folder."""

    division: str
    submitter: str
    system: str
    benchmark: str
    scenario: str
    location: str  # results/... folder, relative to the root
    result: float | None = None  # the checker's headline figure (samples/s; ms for latencies)
    f1: float | None = None
    compliance: bool = True  # TEST01 passed (closed), or none needed (open)
    violations: int = 0


@dataclass
class Report:
    """The outcome of a validation: every violation and every result found."""

    root: Path
    version: str
    violations: list[Violation] = field(default_factory=list)
    results: list[ResultRecord] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and bool(self.results)

    def lines(self) -> list[str]:
        if self.ok:
            return [
                f"built-in validation ({self.version}): PASS, {len(self.files)} files, "
                f"{len(self.results)} result(s), no violations"
            ]
        head = f"built-in validation ({self.version}): FAIL, {len(self.violations)} violation(s)"
        if not self.results:
            head += "; no result found"
        return [head, *(f"  {v}" for v in self.violations)]


class _Walk:
    def __init__(self, root: Path, version: CheckerVersion) -> None:
        self.root = root
        self.version = version
        self.report = Report(root, version.name)
        self.expected: set[str] = set()
        self.free_dirs: list[str] = []  # src/ or code/: any content allowed
        self.reported: set[str] = set()  # extra files already reported by a file-set rule

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() or "."

    def add(self, rule: str, path: Path | str, message: str) -> None:
        where = path if isinstance(path, str) else self.rel(path)
        self.report.violations.append(Violation(rule, where, message))

    def extend(self, found: list[Violation]) -> None:
        self.report.violations.extend(found)

    def expect(self, path: Path) -> bool:
        """Mark a file as part of the layout; report it when missing."""
        self.expected.add(self.rel(path))
        if not path.is_file():
            self.add("missing-file", path, "required file is missing")
            return False
        return True

    def read_json(self, path: Path):
        if not self.expect(path):
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.add("json", path, f"not valid JSON ({type(exc).__name__})")
            return None

    def read_log(self, path: Path) -> LoadgenLog | None:
        if not self.expect(path):
            return None
        try:
            return parse_detail_log(path)
        except BertSweepError as exc:
            self.add("loadgen-log", path, str(exc))
            return None

    def file_set(self, folder: Path, required: tuple[str, ...], optional=()) -> None:
        """The folder holds exactly `required` (+ `optional`): the checker's files_diff."""
        for name in required:
            self.expect(folder / name)
        for name in optional:
            if (folder / name).is_file():
                self.expected.add(self.rel(folder / name))
        if folder.is_dir():
            extra = sorted(p.name for p in folder.iterdir() if p.name not in (*required, *optional))
            self.reported.update(self.rel(folder / name) for name in extra)
            if extra:
                self.add(
                    "file-set", folder, f"unexpected entries {extra}; expected {list(required)}"
                )


def validate_tree(root: Path, version: CheckerVersion) -> Report:
    """Apply every rule to the tree under `root`; the report lists all violations."""
    walk = _Walk(Path(root), version)
    if not walk.root.is_dir():
        walk.add("tree", str(root), "not a folder")
        return walk.report
    _repository_rules(walk)
    for division_dir in sorted(p for p in walk.root.iterdir() if p.is_dir()):
        if division_dir.name not in DIVISIONS:
            walk.add(
                "division", division_dir, f"not a division folder; expected one of {DIVISIONS}"
            )
            continue
        for entry in sorted(division_dir.iterdir()):
            if not entry.is_dir():
                walk.add("stray-file", entry, "a division folder holds only submitter folders")
                continue
            _submitter(walk, entry, division_dir.name)
    _stray_files(walk)
    return walk.report


def _repository_rules(walk: _Walk) -> None:
    """Folder hygiene: links, dot names, spaces, __pycache__, empty folders, 50 MB, root files."""
    for dirpath, dirnames, filenames in os.walk(walk.root, followlinks=False):
        folder = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = folder / name
            if path.is_symlink():
                walk.add("symlink", path, "symbolic links are not allowed")
            if name.startswith("."):
                walk.add("dot-name", path, "names starting with '.' are not allowed")
            if " " in name:
                walk.add("space-name", path, "names with spaces are not allowed")
            if name == "__pycache__":
                walk.add("pycache", path, "__pycache__ folders are not allowed")
        for name in filenames:
            path = folder / name
            if not path.is_symlink() and path.stat().st_size > MAX_FILE_BYTES:
                walk.add("file-size", path, f"{path.stat().st_size} bytes, limit {MAX_FILE_BYTES}")
        if folder != walk.root and not dirnames and not filenames:
            walk.add("empty-folder", folder, "empty folders are not allowed")
    for entry in walk.root.iterdir():
        if entry.is_file() and entry.suffix.lower() in (".md", ".pdf"):
            walk.expected.add(walk.rel(entry))


def _submitter(walk: _Walk, top: Path, division: str) -> None:
    submitter = top.name
    version = walk.version
    code = top / version.code_dir
    walk.free_dirs.append(walk.rel(code))
    if not code.is_dir():
        walk.add("code-dir", code, f"missing: the {version.code_dir}/ folder describing the code")
    results = top / "results"
    if not results.is_dir():
        walk.add("results-dir", results, "missing")
        return
    systems = sorted(p.name for p in results.iterdir() if p.is_dir())
    for path in sorted((top / "systems").glob("*.json")):
        if path.stem not in systems:
            walk.add("system-no-results", path, "a system description with no results folder")
    for system in systems:
        desc = walk.read_json(top / "systems" / f"{system}.json")
        if desc is not None:
            walk.extend(
                rules.system_description(
                    desc, walk.rel(top / "systems" / f"{system}.json"), division, submitter
                )
            )
        for bench_dir in sorted(p for p in (results / system).iterdir() if p.is_dir()):
            if bench_dir.name not in BENCHMARKS.values():
                walk.add("benchmark", bench_dir, f"expected one of {sorted(BENCHMARKS.values())}")
                continue
            if version.layout == "v5" and not (code / bench_dir.name).exists():
                walk.add("code-dir", code / bench_dir.name, "missing (code/<benchmark>)")
            scenarios = sorted(p.name for p in bench_dir.iterdir() if p.is_dir())
            if division == "closed" and isinstance(desc, dict):
                missing = [s for s in REQUIRED_SCENARIOS_CLOSED if s not in scenarios]
                if missing:
                    walk.add(
                        "scenarios",
                        bench_dir,
                        f"closed division ({desc.get('system_type')}) needs scenarios "
                        f"{list(REQUIRED_SCENARIOS_CLOSED)}; missing {missing}",
                    )
            for scenario in scenarios:
                record = ResultRecord(
                    division,
                    submitter,
                    system,
                    bench_dir.name,
                    scenario,
                    walk.rel(bench_dir / scenario),
                )
                before = len(walk.report.violations)
                _scenario(walk, top, record)
                record.violations = len(walk.report.violations) - before
                walk.report.results.append(record)


def _scenario(walk: _Walk, top: Path, record: ResultRecord) -> None:
    version = walk.version
    tail = Path(record.system) / record.benchmark / record.scenario
    folder = top / "results" / tail
    if record.scenario not in SCENARIOS:
        walk.add("scenario", folder, f"expected one of {SCENARIOS}")
        return
    # measurements: README.md, user.conf, measurements JSON
    if version.layout == "v6":
        meas_dir, meas_json = folder, folder / "measurements.json"
    else:
        meas_dir = top / "measurements" / tail
        meas_json = meas_dir / f"{record.system}_{record.scenario}.json"
    for name in MEASUREMENT_FILES:
        if walk.expect(meas_dir / name) and (meas_dir / name).stat().st_size == 0:
            walk.add("empty-file", meas_dir / name, "must not be empty")
    data = walk.read_json(meas_json)
    if data is not None:
        walk.extend(rules.measurements(data, walk.rel(meas_json)))

    perf_dir = folder / "performance" / "run_1"
    walk.file_set(perf_dir, PERFORMANCE_FILES, OPTIONAL_PERF_FILES)
    perf = walk.read_log(perf_dir / "mlperf_log_detail.txt")
    if perf is not None:
        walk.extend(
            rules.performance_log(
                perf,
                walk.rel(perf_dir / "mlperf_log_detail.txt"),
                version,
                record.division,
                record.scenario,
            )
        )
        record.result = perf.result
        if record.result is not None and record.scenario in ("SingleStream", "MultiStream"):
            record.result = record.result / 1e6  # ns -> ms, as the checker reports

    acc_dir = folder / "accuracy"
    walk.file_set(acc_dir, ACCURACY_FILES)
    acc = walk.read_log(acc_dir / "mlperf_log_detail.txt")
    if acc is not None:
        walk.extend(
            rules.accuracy_log(acc, walk.rel(acc_dir / "mlperf_log_detail.txt"), record.scenario)
        )
    log = acc_dir / "mlperf_log_accuracy.json"
    if log.is_file() and log.stat().st_size > MAX_ACCURACY_LOG_BYTES:
        walk.add(
            "accuracy-log-size",
            log,
            f"{log.stat().st_size} bytes: not truncated (limit {MAX_ACCURACY_LOG_BYTES})",
        )
    text_path = acc_dir / "accuracy.txt"
    if text_path.is_file():
        found, record.f1 = rules.accuracy_result(
            text_path.read_text(encoding="utf-8", errors="replace"),
            walk.rel(text_path),
            record.division,
            record.benchmark,
        )
        walk.extend(found)

    if record.division in ("closed", "network"):
        compliance = (folder if version.layout == "v6" else top / "compliance" / tail) / "TEST01"
        before = len(walk.report.violations)
        _test01(walk, compliance, record)
        record.compliance = len(walk.report.violations) == before


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _test01(walk: _Walk, folder: Path, record: ResultRecord) -> None:
    """TEST01 (accuracy in performance mode), required in the closed division."""
    if not folder.is_dir():
        walk.add("test01", folder, "missing: the closed division needs the TEST01 compliance run")
        return
    for name in ("verify_accuracy.txt", "verify_performance.txt"):
        walk.expect(folder / name)
    walk.extend(
        rules.verify_text(
            _read_text(folder / "verify_performance.txt"),
            walk.rel(folder / "verify_performance.txt"),
            "test01-performance",
        )
    )
    perf_dir = folder / "performance" / "run_1"
    walk.file_set(perf_dir, PERFORMANCE_FILES, OPTIONAL_PERF_FILES)
    perf = walk.read_log(perf_dir / "mlperf_log_detail.txt")
    if perf is not None:
        walk.extend(
            rules.performance_log(
                perf,
                walk.rel(perf_dir / "mlperf_log_detail.txt"),
                walk.version,
                record.division,
                record.scenario,
            )
        )
    acc_dir = folder / "accuracy"
    verify = _read_text(folder / "verify_accuracy.txt")
    if verify is not None and "TEST PASS" in verify:
        walk.file_set(acc_dir, ("mlperf_log_accuracy.json",), ("accuracy.txt",))
        return
    walk.file_set(acc_dir, TEST01_ACC_FALLBACK)
    baseline = _read_text(acc_dir / "baseline_accuracy.txt")
    compliance = _read_text(acc_dir / "compliance_accuracy.txt")
    if baseline is not None and compliance is not None:
        walk.extend(
            rules.test01_accuracy_delta(baseline, compliance, walk.rel(acc_dir), record.benchmark)
        )


def _stray_files(walk: _Walk) -> None:
    """Every file must be one the layout expects; src/ and code/ may hold anything."""
    for dirpath, _dirnames, filenames in os.walk(walk.root):
        for name in filenames:
            rel = walk.rel(Path(dirpath) / name)
            walk.report.files.append(rel)
            if rel in walk.expected or rel in walk.reported:
                continue
            if any(rel.startswith(f"{d}/") for d in walk.free_dirs):
                continue
            walk.add("stray-file", rel, "not part of the submission layout")
    walk.report.files.sort()
