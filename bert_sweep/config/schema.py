"""Typed schema of a run. Values live in conf/*.yaml; these dataclasses check them.

Hydra composes the YAML onto these schemas (registered in config/store.py), so a wrong type fails
at composition; `validate(cfg)` then builds the objects, and each `__post_init__` checks ranges and
allowed values with a one-line message naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from bert_sweep.backends.config import PRECISIONS, BackendConfig
from bert_sweep.errors import field_error

__all__ = ["PRECISIONS", "BackendConfig"]  # each backend's own config: backends/<name>/config.py

SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")
MODEL_SOURCES = ("embedded", "download", "file", "random")
DATASETS = ("synthetic", "squad", "file")
ACCURACY_TARGETS = (0.99, 0.999)


def _positive(field_name: str, value: float | int | None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if value is None or value <= 0:
        raise field_error(field_name, value, "a number > 0")


@dataclass
class ModelConfig:
    name: str = MISSING
    source: str = "embedded"  # embedded | download | file | random
    file: str | None = None  # catalog key (source=download) or a local path (source=file)
    # source=download: catalog key of the same weights as a torch checkpoint (backend=torch)
    torch_file: str | None = None
    dataset: str = "squad"  # the dataset this model is evaluated on by default
    reference_f1: float | None = None  # fp32 reference F1; None = from the embedded build
    accuracy_meaningful: bool = True  # False for random weights (perf-only)
    packageable: bool = True  # may the submission stage package it
    # Architecture of source=random models (perf-only BERT-large by default).
    num_layers: int = 24
    hidden_size: int = 1024
    num_heads: int = 16
    intermediate_size: int = 4096

    def __post_init__(self) -> None:
        if self.source not in MODEL_SOURCES:
            raise field_error("model.source", self.source, f"one of {list(MODEL_SOURCES)}")
        if self.source in ("download", "file") and not self.file:
            raise field_error("model.file", self.file, f"a file for model.source={self.source}")
        if self.dataset not in DATASETS:
            raise field_error("model.dataset", self.dataset, f"one of {list(DATASETS)}")
        _positive("model.reference_f1", self.reference_f1)
        for name in ("num_layers", "hidden_size", "num_heads", "intermediate_size"):
            _positive(f"model.{name}", getattr(self, name), allow_none=False)
        if self.hidden_size % self.num_heads:
            raise field_error("model.num_heads", self.num_heads, "a divisor of model.hidden_size")


@dataclass
class DatasetConfig:
    name: str = MISSING  # synthetic (embedded dev split) | squad (SQuAD v1.1 dev) | file
    path: str | None = None  # name=file: any SQuAD v1.1-format JSON

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise field_error("dataset", self.name, f"one of {list(DATASETS)}")
        if self.name == "file" and not self.path:
            raise field_error("dataset.path", self.path, "a SQuAD v1.1 JSON file for dataset=file")


@dataclass
class DeviceConfig:
    name: str = "cpu"  # cpu | cuda
    providers: list[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    index: int = 0

    def __post_init__(self) -> None:
        if self.name not in ("cpu", "cuda"):
            raise field_error("device", self.name, "cpu or cuda")
        if self.index < 0:
            raise field_error("device.index", self.index, "an integer >= 0")


@dataclass
class ScenarioConfig:
    name: str = "Offline"
    target_qps: float | None = None  # None = measured by a warm-up in the performance process
    target_latency_ms: float | None = None  # Server: p99 bound (130 ms in mlperf.conf)
    samples_per_query: int | None = None  # MultiStream (8 in mlperf.conf)
    # When target_qps is null: target_qps = warm-up rate × qps_factor. Offline needs it above the
    # real rate (a query that ends before min_duration is INVALID); Server below it (latency).
    qps_factor: float = 1.25

    def __post_init__(self) -> None:
        if self.name not in SCENARIOS:
            raise field_error("scenario.name", self.name, f"one of {list(SCENARIOS)}")
        _positive("scenario.target_qps", self.target_qps)
        _positive("scenario.target_latency_ms", self.target_latency_ms)
        _positive("scenario.samples_per_query", self.samples_per_query)
        _positive("scenario.qps_factor", self.qps_factor, allow_none=False)


@dataclass
class ProfileConfig:
    """How long and how much: quick (seconds), test (fixed small count), submission (official)."""

    name: str = MISSING
    accuracy: bool = True  # run the accuracy test
    performance: bool = True  # run the performance test
    max_samples: int | None = None  # QSL = the first N features (None = whole dataset)
    min_duration_ms: int | None = None  # None = mlperf.conf (600,000 ms)
    min_query_count: int | None = None  # None = mlperf.conf
    max_query_count: int | None = None
    performance_sample_count: int | None = None  # None = mlperf.conf's 10,833 capped at the QSL
    warmup_batches: int = 3  # batches timed before the test to estimate the rate
    valid_for_submission: bool = False  # only the submission profile may be packaged

    def __post_init__(self) -> None:
        if not (self.accuracy or self.performance):
            raise field_error("profile", self.name, "at least one of accuracy/performance enabled")
        for name in (
            "max_samples",
            "min_query_count",
            "max_query_count",
            "performance_sample_count",
        ):
            _positive(f"profile.{name}", getattr(self, name))
        if self.min_duration_ms is not None and self.min_duration_ms < 0:
            raise field_error("profile.min_duration_ms", self.min_duration_ms, "an integer >= 0")
        if self.warmup_batches < 0:
            raise field_error("profile.warmup_batches", self.warmup_batches, "an integer >= 0")


@dataclass
class HarnessConfig:
    workers: int = 1  # inference threads pulling batches from the queue
    batch_timeout_ms: float = 2.0  # Server/MultiStream: longest wait to fill a batch
    trim_padding: bool = False  # cut each batch to its longest real sequence (exact with masks)
    sort_by_length: bool = False  # Offline: batch samples of similar length (pairs with trim)

    def __post_init__(self) -> None:
        if self.workers <= 0:
            raise field_error("harness.workers", self.workers, "an integer >= 1")
        if self.batch_timeout_ms < 0:
            raise field_error("harness.batch_timeout_ms", self.batch_timeout_ms, "a number >= 0")


@dataclass
class AssetsConfig:
    cache_dir: str = MISSING  # downloads, embedded build, features, prepared models
    mirror: str | None = None  # a local folder (or file:// URL) searched before the official URL
    offline: bool = False  # never try the official URLs
    progress: bool = True


@dataclass
class PathsConfig:
    root_dir: str = MISSING
    output_dir: str = MISSING


@dataclass
class RunConfig:
    model: ModelConfig = MISSING
    dataset: DatasetConfig = MISSING
    backend: BackendConfig = MISSING
    device: DeviceConfig = MISSING
    scenario: ScenarioConfig = MISSING
    profile: ProfileConfig = MISSING
    harness: HarnessConfig = field(default_factory=HarnessConfig)
    assets: AssetsConfig = field(default_factory=AssetsConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    # Short top-level knobs, interpolated into the groups above.
    batch: int = 32
    threads: int = 0
    precision: str = "fp32"
    target: float = 0.99  # accuracy target as a fraction of the fp32 reference (bert-99)
    reuse_accuracy: bool = True  # reuse accuracy measured with the same numerics (cache)
    extras: dict[str, Any] = field(default_factory=dict)  # free-form notes recorded in results

    def __post_init__(self) -> None:
        if self.target not in ACCURACY_TARGETS:
            raise field_error("target", self.target, "0.99 (bert-99) or 0.999 (bert-99.9)")
        if self.threads < 0:
            raise field_error("threads", self.threads, "an integer >= 0 (0 = engine default)")
        if self.batch <= 0:
            raise field_error("batch", self.batch, "an integer >= 1")
