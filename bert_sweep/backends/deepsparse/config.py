"""DeepSparse 1.8 on the CPU, fp32, static shapes, always in a worker under its own venv.

Why its own venv: deepsparse 1.8.0 (the last real release; 1.9 is a stub that refuses to
install) pins numpy < 2 and onnx < 1.15, so it cannot share the project's environment (env.py
builds `<cache_dir>/envs/deepsparse-1.8.0` on first use). Why always isolated: it aborts the
process natively on models it cannot handle (onnxruntime's dynamic int8), and its venv cannot
import the project anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from bert_sweep.backends.config import BackendConfig
from bert_sweep.errors import field_error

SCHEDULERS = ("default", "single_stream", "multi_stream", "elastic")
DEFAULT_BUCKETS = (64, 128, 192, 256, 320, 384)


@dataclass
class DeepsparseConfig(BackendConfig):
    _target_: str = "bert_sweep.backends.deepsparse.backend.DeepsparseBackend"
    name: str = "deepsparse"
    isolated: bool = True  # always: see the module docstring
    num_cores: int = 0  # 0 = deepsparse's default (all physical cores)
    num_streams: int = 0  # 0 = deepsparse's default
    scheduler: str = "default"  # default | single_stream | multi_stream | elastic
    # a batch of width w runs on the engine compiled for the smallest bucket >= w (padding has
    # mask 0, so real positions are exact); widths above the last bucket get their own engine
    width_buckets: list[int] = field(default_factory=lambda: list(DEFAULT_BUCKETS))
    # compile every bucket when the engine loads (before loadgen's warm-up and timing); false:
    # compile each shape on first use, inside the timed test
    precompile: bool = True
    cache_dir: str = ""  # the venv lives under it (assets.cache_dir); "" = ~/.cache/bert_sweep
    offline: bool = False  # assets.offline: creating the venv may not reach the package index

    SUPPORTED: ClassVar[dict[str, tuple[str, ...]]] = {"cpu": ("fp32",)}
    ENGINE_PACKAGE: ClassVar[str | None] = "deepsparse"
    KNOBS: ClassVar[dict[str, str]] = BackendConfig.KNOBS | {
        "num_cores": "${threads}",
        "cache_dir": "${assets.cache_dir}",
        "offline": "${assets.offline}",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.isolated:
            raise field_error(
                "backend.isolated", self.isolated, "true (deepsparse runs only in its own venv)"
            )
        if self.num_cores < 0:
            raise field_error("threads", self.num_cores, "an integer >= 0 (0 = default)")
        if self.num_streams < 0:
            raise field_error("backend.num_streams", self.num_streams, "an integer >= 0")
        if self.scheduler not in SCHEDULERS:
            raise field_error("backend.scheduler", self.scheduler, f"one of {list(SCHEDULERS)}")
        buckets = list(self.width_buckets)
        if not buckets or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in buckets
        ):
            raise field_error("backend.width_buckets", buckets, "a non-empty list of integers >= 1")
        self.width_buckets = sorted(set(buckets))
