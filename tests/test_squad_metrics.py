"""SQuAD v1.1 EM/F1 on hand-computed cases, and on the real dev set with gold predictions."""

from __future__ import annotations

import json

import pytest

from bert_sweep.assets.squad import parse_squad
from bert_sweep.errors import AssetError
from bert_sweep.evaluation.squad_metrics import (
    evaluate,
    evaluate_dataset_json,
    exact_match_score,
    f1_score,
    normalize_answer,
    score_dataset_json,
    score_examples,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Quick, Brown-Fox!", "quick brownfox"),  # hyphen removed, not split
        ("an Apple a day", "apple day"),
        ("theater Another", "theater another"),  # articles only as whole words
        ("  Steve\tSmith's  ", "steve smiths"),
        ("(1,000)", "1000"),
        ("A.", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_ignores_case_punctuation_and_articles():
    assert exact_match_score("The Eiffel Tower.", "eiffel tower")
    assert exact_match_score("an apple", "Apple!")
    assert not exact_match_score("Eiffel Towers", "Eiffel Tower")
    # The official script compares normalized strings: an answer made only of an article
    # normalizes to "" and so equals an empty prediction.
    assert exact_match_score("", "The")


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("the big red barn", "red barn door", 2 / 3),  # P = 2/3, R = 2/3
        ("red", "red barn door", 0.5),  # P = 1, R = 1/3 -> 2·(1/3)/(4/3)
        ("go go team", "go team", 0.8),  # P = 2/3, R = 1 -> (4/3)/(5/3)
        ("Denver Broncos", "denver broncos!", 1.0),
        ("Carolina", "Denver", 0.0),
        ("", "Denver", 0.0),
        ("", "the", 0.0),  # no shared token -> 0 even though EM is 1
    ],
)
def test_f1_by_hand(pred, gold, expected):
    assert f1_score(pred, gold) == pytest.approx(expected, abs=1e-12)


def _dataset() -> dict:
    qas = [
        {"id": "q1", "question": "?", "answers": [{"text": "Denver Broncos", "answer_start": 0}]},
        {
            "id": "q2",
            "question": "?",
            "answers": [
                {"text": "the red barn door", "answer_start": 0},
                {"text": "barn", "answer_start": 0},
            ],
        },
        {"id": "q3", "question": "?", "answers": [{"text": "Santa Clara", "answer_start": 0}]},
        {"id": "q4", "question": "?", "answers": [{"text": "1966", "answer_start": 0}]},
    ]
    return {"version": "1.1", "data": [{"paragraphs": [{"context": "ctx words", "qas": qas}]}]}


def test_evaluate_max_over_golds_and_missing_questions():
    data = _dataset()
    examples = parse_squad(data)
    # q1 exact; q2 "red barn": gold 1 -> P 1, R 2/3 -> F1 0.8, gold 2 -> P 1/2, R 1 -> 2/3; max 0.8;
    # q3 wrong (0); q4 has no prediction: scores 0 and stays in the denominator.
    predictions = {"q1": "the Denver Broncos", "q2": "red barn", "q3": "Levi's Stadium"}
    score = score_examples(examples, predictions)
    assert (score.total, score.missing, score.missing_ids) == (4, 1, ["q4"])
    assert score.exact_match == pytest.approx(100 * 1 / 4, abs=1e-12)
    assert score.f1 == pytest.approx(100 * (1 + 0.8) / 4, abs=1e-12)
    assert evaluate(examples, predictions) == score.as_dict()
    assert evaluate_dataset_json(data, predictions) == score.as_dict()
    assert score_dataset_json(data["data"], predictions).missing == 1


def test_bad_inputs_raise_one_line_errors():
    examples = parse_squad(_dataset())
    with pytest.raises(AssetError, match=r"predictions\['q1'\]: expected a string"):
        evaluate(examples, {"q1": 3})
    with pytest.raises(AssetError, match="'data' list"):
        evaluate_dataset_json({"version": "1.1"}, {})
    with pytest.raises(AssetError, match=r"data\[0\] lacks"):
        evaluate_dataset_json({"data": [{"paragraphs": [{"qas": [{"id": "x"}]}]}]}, {})
    with pytest.raises(AssetError, match="no questions"):
        evaluate([], {})


def test_real_dev_set_gold_predictions_score_100_and_agree(shared_data):
    dev = shared_data / "squad-v1.1-dev.json"
    data = json.loads(dev.read_text(encoding="utf-8"))
    examples = parse_squad(data, source=str(dev))
    gold_first = {ex.qas_id: ex.answers[0] for ex in examples}
    assert evaluate_dataset_json(data, gold_first) == {"exact_match": 100.0, "f1": 100.0}
    # Half the questions unanswered: exactly half the score, over all 10,570 questions.
    half = {k: v for i, (k, v) in enumerate(gold_first.items()) if i % 2 == 0}
    score = score_dataset_json(data, half)
    assert score.total == len(examples) == 10570
    assert score.missing == len(examples) - len(half)
    assert score.f1 == pytest.approx(100.0 * len(half) / len(examples), abs=1e-9)
    assert score.as_dict() == evaluate(examples, half)
