"""The loadgen Query Sample Library over a `Features` object.

One loadgen sample = one feature row. The three model inputs are converted once, up front, to
contiguous int64 (the dtype of the MLPerf ONNX signature), so gathering a batch is a single
fancy-index per array and no conversion happens while loadgen is timing. The whole set stays in
RAM (10,833 × 384 × 3 int64 ≈ 100 MB for SQuAD dev), so load/unload are bookkeeping only.

QSL index `i` is row `sample_rows[i]` of the features (all rows when `sample_rows` is None); the
accuracy log's `qsl_idx` refers to QSL indices, so evaluation must map them through `rows`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bert_sweep.backends.base import Batch
from bert_sweep.errors import ConfigError, field_error
from bert_sweep.features.squad_features import Features


class FeatureQSL:
    """Samples for loadgen: model inputs as int64 `[n, seq]` plus each sample's real length."""

    def __init__(
        self,
        features: Features,
        sample_rows: Sequence[int] | None = None,
        performance_sample_count: int | None = None,
    ) -> None:
        total_rows = len(features)
        if sample_rows is None:
            rows = np.arange(total_rows, dtype=np.int64)
        else:
            rows = np.asarray(sample_rows, dtype=np.int64).reshape(-1)
            if rows.size and (rows.min() < 0 or rows.max() >= total_rows):
                raise field_error(
                    "sample_rows", f"[{rows.min()}..{rows.max()}]", f"rows in [0, {total_rows})"
                )
        if rows.size == 0:
            raise ConfigError("sample_rows: expected at least one feature row, got none")
        self.rows = rows
        pick = (lambda a: a) if sample_rows is None else (lambda a: a[rows])
        self.input_ids = np.ascontiguousarray(pick(features.input_ids), dtype=np.int64)
        self.input_mask = np.ascontiguousarray(pick(features.input_mask), dtype=np.int64)
        self.segment_ids = np.ascontiguousarray(pick(features.segment_ids), dtype=np.int64)
        if not (self.input_ids.shape == self.input_mask.shape == self.segment_ids.shape):
            raise ConfigError(
                "features: expected input_ids, input_mask and segment_ids of one shape [N, seq]"
            )
        self.lengths = self.input_mask.sum(axis=1).astype(np.int64)
        count = len(rows)
        if performance_sample_count is None:
            performance_sample_count = count
        if not 1 <= int(performance_sample_count) <= count:
            raise field_error(
                "performance_sample_count", performance_sample_count, f"1..{count} (QSL size)"
            )
        self.performance_sample_count = int(performance_sample_count)
        self.loaded: set[int] = set()

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.input_ids.shape[1])

    def load_samples(self, indices: Sequence[int]) -> None:
        """Loadgen's LoadSamplesToRam: data is resident already; remember the set."""
        self.loaded.update(int(i) for i in indices)

    def unload_samples(self, indices: Sequence[int]) -> None:
        """Loadgen's UnloadSamplesFromRam."""
        self.loaded.difference_update(int(i) for i in indices)

    def batch(self, indices: np.ndarray, length: int | None = None) -> Batch:
        """Gather QSL samples into a Batch, optionally cut to the first `length` positions."""
        cut = slice(None) if length is None else slice(0, length)
        return Batch(
            input_ids=np.ascontiguousarray(self.input_ids[indices, cut]),
            input_mask=np.ascontiguousarray(self.input_mask[indices, cut]),
            segment_ids=np.ascontiguousarray(self.segment_ids[indices, cut]),
        )

    def construct(self):
        """Register with loadgen; returns the handle for StartTest and DestroyQSL."""
        import mlperf_loadgen as lg

        return lg.ConstructQSL(
            len(self), self.performance_sample_count, self.load_samples, self.unload_samples
        )
