"""SQuAD v1.1 exact match and F1, with the semantics of the official `evaluate-v1.1.py`.

MLPerf scores BERT with that script, so every detail matters for the 1e-9 agreement we check:
answers are normalized (lower-case, ASCII punctuation removed, articles a/an/the removed,
whitespace collapsed), each question scores the maximum over its gold answers, and a question
without a prediction scores 0 but still counts in the denominator (the official script prints
"Unanswered question ... will receive score 0." and moves on). Sums run in dataset order, so the
floating-point result is the same as the official one.
"""

from __future__ import annotations

import logging
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bert_sweep.assets.squad import SquadExample
from bert_sweep.errors import AssetError

log = logging.getLogger(__name__)

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, drop articles, collapse whitespace (official order)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """True when both strings are equal after normalization."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-level F1 over normalized bags of words (0 when nothing is shared)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(ground_truth).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(pred_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


@dataclass
class SquadScore:
    """EM/F1 (×100) plus how many questions were scored and how many had no prediction."""

    exact_match: float
    f1: float
    total: int
    missing: int
    missing_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        """The official script's output object: `{"exact_match": EM, "f1": F1}`."""
        return {"exact_match": self.exact_match, "f1": self.f1}


def _score(questions: Iterable[tuple[str, Sequence[str]]], predictions: Mapping[str, str]):
    exact_match = f1 = 0.0
    total = 0
    missing: list[str] = []
    for qas_id, golds in questions:
        total += 1
        if qas_id not in predictions:
            missing.append(qas_id)
            continue
        if not golds:
            raise AssetError(f"question {qas_id}: no gold answers (SQuAD v1.1 needs at least one)")
        prediction = predictions[qas_id]
        if not isinstance(prediction, str):
            raise AssetError(f"predictions[{qas_id!r}]: expected a string, got {prediction!r}")
        exact_match += max(exact_match_score(prediction, g) for g in golds)
        f1 += max(f1_score(prediction, g) for g in golds)
    if total == 0:
        raise AssetError("evaluation: no questions to score (expected at least one)")
    if missing:
        log.warning("%d of %d questions have no prediction and score 0", len(missing), total)
    return SquadScore(100.0 * exact_match / total, 100.0 * f1 / total, total, len(missing), missing)


def score_examples(examples: Sequence[SquadExample], predictions: Mapping[str, str]) -> SquadScore:
    """Score predictions (qas_id → text) against examples; missing predictions score 0."""
    return _score(((ex.qas_id, ex.answers) for ex in examples), predictions)


def evaluate(examples: Sequence[SquadExample], predictions: Mapping[str, str]) -> dict:
    """`{"exact_match": EM, "f1": F1}` ×100 over all examples (see `score_examples` for counts)."""
    return score_examples(examples, predictions).as_dict()


def _dataset_questions(data: list, source: str):
    for a, article in enumerate(data):
        try:
            paragraphs = article["paragraphs"]
            for paragraph in paragraphs:
                for qa in paragraph["qas"]:
                    yield str(qa["id"]), [ans["text"] for ans in qa["answers"]]
        except (KeyError, TypeError) as exc:
            raise AssetError(
                f"{source}: data[{a}] lacks paragraphs/qas/id/answers/text (missing {exc})"
            ) from None


def score_dataset_json(dataset: dict | list, predictions: Mapping[str, str]) -> SquadScore:
    """Score against a raw SQuAD v1.1 object (or its 'data' list), like the official script."""
    if isinstance(dataset, dict):
        if dataset.get("version") not in (None, "1.1"):
            log.warning("evaluation expects SQuAD v1.1, got version %r", dataset.get("version"))
        data = dataset.get("data")
    else:
        data = dataset
    if not isinstance(data, list):
        raise AssetError("dataset: expected a SQuAD v1.1 object with a 'data' list")
    return _score(_dataset_questions(data, "dataset"), predictions)


def evaluate_dataset_json(dataset: dict | list, predictions: Mapping[str, str]) -> dict:
    """`{"exact_match": EM, "f1": F1}` ×100 on a raw SQuAD v1.1 dict, as evaluate-v1.1.py prints."""
    return score_dataset_json(dataset, predictions).as_dict()
