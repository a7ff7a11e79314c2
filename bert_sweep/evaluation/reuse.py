"""Accuracy measured once per numerics and reused.

Accuracy depends on the model, the samples and the numerics (backend, precision, quantization),
not on batch size or threads for deterministic engines. Entries are keyed by exactly those and
stored as small JSON files in the cache, written atomically so parallel jobs can share them.
Each entry keeps the run dir and the date it was measured in (`run_dir`, `measured_at`), so a
reused figure is labelled with where it came from, never as "this run".
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from bert_sweep.atomic import write_json_atomic

FP32_REFERENCE = {"backend": "onnx", "precision": "fp32"}


def accuracy_key(model_digest: str, dataset_digest: str, n_samples: int, numerics: dict) -> str:
    payload = json.dumps(
        {"model": model_digest, "dataset": dataset_digest, "n": n_samples, "numerics": numerics},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class AccuracyStore:
    def __init__(self, cache_dir: Path) -> None:
        self.folder = Path(cache_dir) / "accuracy"

    def get(self, key: str) -> dict | None:
        path = self.folder / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, record: dict) -> None:
        """Store an entry (`run_dir` of the measuring run expected; `measured_at` added)."""
        stamped = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")} | record
        write_json_atomic(self.folder / f"{key}.json", stamped)
