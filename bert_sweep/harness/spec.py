"""What a loadgen process needs (TestSpec) and what it gives back (TestOutcome).

Both are plain picklable dataclasses: the parent builds a TestSpec, a fresh spawned process runs
the loadgen test from it, and the parent reads the TestOutcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")
MODES = ("accuracy", "performance")


@dataclass
class TestSpec:
    __test__ = False  # not a pytest test class despite the name
    mode: str  # "accuracy" | "performance"
    scenario: str  # one of SCENARIOS (loadgen spelling)
    output_dir: str  # fresh, empty folder for this test's loadgen logs
    features_path: str  # Features .npz (features/squad_features.py)
    # the backend's config dataclass (or its dict with `_target_`); the child builds it from this
    backend: Any
    model_path: str  # prepared model file handed to Backend.load
    batch_size: int = 1
    workers: int = 1  # inference threads pulling batches from the queue
    batch_timeout_ms: float = 2.0  # Server: longest wait to fill a batch (see harness/sut.py)
    trim_padding: bool = False  # cut each batch to its longest real sequence
    sample_rows: list[int] | None = None  # feature rows forming the QSL (None = all)
    loadgen_model: str = "bert"  # model name loadgen looks up in mlperf.conf
    # user.conf: either rendered text, or settings the child renders (harness/user_conf.py) after
    # an optional warm-up has measured the rate that sets target_qps.
    user_conf: str | None = None
    settings: dict | None = None
    # Set the scenario's rate from a warm-up: target_qps = rate × factor (Offline, Server), or
    # target_latency = query time / factor (SingleStream, MultiStream).
    auto_target: bool = False
    target_factor: float = 1.0
    warmup_batches: int = 3
    sort_by_length: bool = False  # Offline: order the query by real length (pairs with trim)
    enable_trace: bool = False  # write loadgen's mlperf_log_trace.json (large; not submitted)


@dataclass
class TestOutcome:
    __test__ = False
    mode: str
    output_dir: str
    summary_path: str
    detail_path: str
    accuracy_log_path: str
    wall_s: float
    samples_issued: int = 0
    log: dict = field(default_factory=dict)  # dataclasses.asdict of harness.mllog.LoadgenLog
    scenario: str = ""
    user_conf_path: str = ""
    sut_stats: dict = field(default_factory=dict)  # dataclasses.asdict of harness.sut.SutStats
    backend_info: dict = field(default_factory=dict)  # dataclasses.asdict of Backend.info()
