"""Run the official MLPerf submission checker from an mlcommons/inference checkout.

`checker_path=<checkout>`: the modular checker (tools/submission/submission_checker/main.py,
v6.x checkouts; it also knows the v5.1 layout) or the single-file one
(tools/submission/submission_checker.py, v5.1 checkouts). It needs PyYAML only. Its verdict is its
exit status (0 = "submission looks OK"); its full log is kept beside the tree, and its ERROR
lines are shown to the user.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bert_sweep.errors import ConfigError

ENTRY_POINTS = (
    "tools/submission/submission_checker/main.py",
    "tools/submission/submission_checker.py",
)
TIMEOUT_S = 600


@dataclass
class CheckerVerdict:
    passed: bool
    returncode: int
    command: list[str]
    log_path: Path
    errors: list[str] = field(default_factory=list)  # the checker's ERROR lines, for display

    def lines(self) -> list[str]:
        head = "official checker: " + (
            "PASS (submission looks OK)" if self.passed else f"FAIL (exit status {self.returncode})"
        )
        return [head, *(f"  {line}" for line in self.errors), f"  full log: {self.log_path}"]


def checker_entry(checkout: Path) -> Path:
    """The checker script inside an mlcommons/inference checkout (ConfigError when absent)."""
    for rel in ENTRY_POINTS:
        if (Path(checkout) / rel).is_file():
            return Path(checkout) / rel
    raise ConfigError(
        f"checker_path={checkout}: no {' or '.join(ENTRY_POINTS)} "
        "(expected an mlcommons/inference checkout)"
    )


def run_checker(
    checkout: Path, tree_root: Path, version: str, submitter: str, out_dir: Path
) -> CheckerVerdict:
    """Run the checker on `tree_root`; its log goes to out_dir/checker.log."""
    entry = checker_entry(Path(checkout))
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "checker.log"
    command = [
        sys.executable,
        str(entry),
        "--input",
        str(Path(tree_root).resolve()),
        "--version",
        version,
        "--submitter",
        submitter,
        "--csv",
        str((out_dir / "checker_summary.csv").resolve()),
    ]
    try:
        done = subprocess.run(
            command, cwd=out_dir, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(f"checker_path={checkout}: the checker ran over {TIMEOUT_S} s") from None
    log = done.stdout + done.stderr
    log_path.write_text(log, encoding="utf-8")
    errors = [line.strip() for line in log.splitlines() if "ERROR" in line][:40]
    return CheckerVerdict(done.returncode == 0, done.returncode, command, log_path, errors)
