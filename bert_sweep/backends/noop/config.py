"""noop: zero logits instantly; measures harness + loadgen overhead (accuracy meaningless).

Named `noop`, not `null`: Hydra reads a bare `null` on the command line as None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bert_sweep.backends.config import PRECISIONS, BackendConfig


@dataclass
class NoopConfig(BackendConfig):
    _target_: str = "bert_sweep.backends.noop.backend.NoopBackend"
    name: str = "noop"

    SUPPORTED: ClassVar[dict[str, tuple[str, ...]]] = {"cpu": PRECISIONS, "cuda": PRECISIONS}
    COMPUTES_MODEL: ClassVar[bool] = False

    def numerics_key(self) -> dict:
        return {"backend": self.name}  # the zeros do not depend on the precision
