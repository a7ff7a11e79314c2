"""The submission stage's own error: a run that must not be packaged, with the reason."""

from bert_sweep.errors import BertSweepError


class SubmissionRefused(BertSweepError):
    """The chosen run cannot become a submission (INVALID, wrong seeds, below target, perf-only)."""
