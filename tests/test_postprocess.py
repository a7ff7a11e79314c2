"""Reference post-processing and accuracy-log reading on hand-built features and real bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bert_sweep.assets.squad import load_squad, parse_squad
from bert_sweep.assets.vocab import load_tokenizer, packaged_vocab
from bert_sweep.errors import HarnessError
from bert_sweep.evaluation.accuracy_log import (
    read_accuracy_log,
    read_accuracy_samples,
    score_accuracy_log,
)
from bert_sweep.evaluation.postprocess import (
    NO_ANSWER_TEXT,
    basic_tokenize,
    get_final_text,
    predictions_from_logits,
)
from bert_sweep.evaluation.squad_metrics import score_examples
from bert_sweep.features.squad_features import FeatureParams, convert_examples_to_features

CONTEXT = (
    "The quick brown fox jumped over Smith's lazy dog near the Café, then slept for twenty "
    "minutes in the afternoon sun beside a quiet river bank."
)
# Small windows so each example has two overlapping features (seq 32, stride 8, query 8).
SMALL = FeatureParams(max_seq_length=32, doc_stride=8, max_query_length=8)
LOW = -10.0


def _dataset() -> dict:
    qas = [
        {
            "id": "a",
            "question": "Who jumped?",
            "answers": [{"text": "quick brown fox", "answer_start": 4}],
        },
        {"id": "b", "question": "Whose dog?", "answers": [{"text": "Smith", "answer_start": 31}]},
    ]
    return {"version": "1.1", "data": [{"paragraphs": [{"context": CONTEXT, "qas": qas}]}]}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(packaged_vocab())


@pytest.fixture(scope="module")
def tiny(tokenizer):
    examples = parse_squad(_dataset())
    features = convert_examples_to_features(examples, tokenizer, SMALL, progress=False)
    # The layout the tests below rely on: 2 features per example, document from position 5.
    assert features.example_index.tolist() == [0, 0, 1, 1]
    assert features.doc_offset.tolist() == [5, 5, 5, 5]
    return examples, features


def _pos(tokenizer, features, row: int, token: str, nth: int = 0) -> int:
    """Sequence position of the nth occurrence of `token` in the document part of a feature."""
    tokens = tokenizer.convert_ids_to_tokens([int(t) for t in features.input_ids[row]])
    off = int(features.doc_offset[row])
    hits = [p for p in range(off, off + int(features.span_length[row])) if tokens[p] == token]
    return hits[nth]


def _logits(features, marks: dict[tuple[int, int, str], float]):
    """LOW everywhere except {(row, position, 'start'|'end'): value}."""
    start = np.full(features.input_ids.shape, LOW, np.float32)
    end = np.full(features.input_ids.shape, LOW, np.float32)
    for (row, pos, which), value in marks.items():
        (start if which == "start" else end)[row, pos] = value
    return start, end


# -- get_final_text / BasicTokenizer -----------------------------------------------------------
def test_basic_tokenize_lowercases_strips_accents_splits_punctuation():
    assert basic_tokenize("Smith's Café,\tNAÏVE") == ["smith", "'", "s", "cafe", ",", "naive"]
    assert basic_tokenize("東京 tower") == ["東", "京", "tower"]


@pytest.mark.parametrize(
    ("pred", "orig", "expected"),
    [
        ("steve smith", "Steve Smith's", "Steve Smith"),
        ("cafe", "Café,", "Café"),
        ("1 , 000", "(1,000)", "1,000"),
        ("nowhere", "Steve Smith's", "Steve Smith's"),  # not found: original words unchanged
    ],
)
def test_get_final_text(pred, orig, expected):
    assert get_final_text(pred, orig) == expected


# -- span selection ----------------------------------------------------------------------------
def test_logits_pointing_at_a_span_give_its_original_text(tokenizer, tiny):
    examples, f = tiny
    s, e = _pos(tokenizer, f, 0, "quick"), _pos(tokenizer, f, 0, "fox")
    smith = _pos(tokenizer, f, 2, "smith")
    cafe = _pos(tokenizer, f, 2, "cafe")
    start, end = _logits(f, {(0, s, "start"): 5, (0, e, "end"): 5, (2, smith, "start"): 5})
    end[2, smith] = 5
    pred = predictions_from_logits(examples, f, start, end, tokenizer)
    # "Smith's" is one whitespace word; get_final_text trims it to the predicted "smith".
    assert pred == {"a": "quick brown fox", "b": "Smith"}
    start[2], end[2] = LOW, LOW
    start[2, cafe] = end[2, cafe] = 5
    assert predictions_from_logits(examples, f, start, end, tokenizer)["b"] == "Café"
    assert score_examples(examples, pred).as_dict() == {"exact_match": 100.0, "f1": 100.0}


def test_start_without_max_context_is_skipped(tokenizer, tiny):
    examples, f = tiny
    # "slept" lies in both windows of example a, but has its max context in the first (row 0).
    slept_1 = _pos(tokenizer, f, 1, "slept")
    assert not f.max_context[1, slept_1]
    assert f.max_context[0, _pos(tokenizer, f, 0, "slept")]
    lazy, dog = _pos(tokenizer, f, 0, "lazy"), _pos(tokenizer, f, 0, "dog")
    marks = {
        (1, slept_1, "start"): 9,
        (1, slept_1, "end"): 9,  # best score, but in the wrong window
        (0, lazy, "start"): 4,
        (0, dog, "end"): 4,
    }
    start, end = _logits(f, marks)
    assert predictions_from_logits(examples, f, start, end, tokenizer)["a"] == "lazy dog"
    # The same token where it has max context wins.
    for_1 = _pos(tokenizer, f, 1, "for")
    assert f.max_context[1, for_1]
    start[1, for_1], end[1, for_1] = 9, 9
    assert predictions_from_logits(examples, f, start, end, tokenizer)["a"] == "for"


def test_too_long_and_reversed_spans_are_skipped(tokenizer, tiny):
    examples, f = tiny
    quick, fox = _pos(tokenizer, f, 0, "quick"), _pos(tokenizer, f, 0, "fox")
    jumped, brown = _pos(tokenizer, f, 0, "jumped"), _pos(tokenizer, f, 0, "brown")
    marks = {(0, quick, "start"): 10, (0, fox, "start"): 3, (0, jumped, "end"): 10}
    start, end = _logits(f, marks)
    # quick..jumped is 4 tokens: allowed at 4, skipped at 3 where fox..jumped (13) is next.
    assert predictions_from_logits(examples, f, start, end, tokenizer)["a"] == (
        "quick brown fox jumped"
    )
    got = predictions_from_logits(examples, f, start, end, tokenizer, max_answer_length=3)
    assert got["a"] == "fox jumped"
    # A reversed pair (start "fox", end "quick") has the best score but is never produced.
    start, end = _logits(f, {(0, fox, "start"): 10, (0, quick, "end"): 10, (0, jumped, "end"): 2})
    assert predictions_from_logits(examples, f, start, end, tokenizer)["a"] == "fox jumped"
    end[0, brown] = 3  # ... and an end before the start is skipped in favour of a later one
    assert predictions_from_logits(examples, f, start, end, tokenizer)["a"] == "fox jumped"


def test_no_valid_candidate_gives_the_reference_fallback(tokenizer, tiny):
    examples, f = tiny
    start, end = _logits(f, {(r, 0, w): 10 for r in range(4) for w in ("start", "end")})
    got = predictions_from_logits(examples, f, start, end, tokenizer, n_best_size=1)
    assert got == {"a": NO_ANSWER_TEXT, "b": NO_ANSWER_TEXT}  # only [CLS] was considered


def _brute_force(f, start, end, n_best, max_len):
    """Per example, the reference's (row, start, end) choice written as plain loops."""
    best: dict[int, tuple[float, int, int, int]] = {}
    for row in range(len(f)):
        s_top = sorted(range(start.shape[1]), key=lambda i: -float(start[row, i]))[:n_best]
        e_top = sorted(range(end.shape[1]), key=lambda i: -float(end[row, i]))[:n_best]
        for s in s_top:
            for e in e_top:
                if f.token_to_orig(row, s) is None or f.token_to_orig(row, e) is None:
                    continue
                if not f.max_context[row, s] or e < s or e - s + 1 > max_len:
                    continue
                score = float(start[row, s]) + float(end[row, e])
                ex = int(f.example_index[row])
                if ex not in best or score > best[ex][0]:  # strict: first in order wins ties
                    best[ex] = (score, row, s, e)
    return {ex: v[1:] for ex, v in best.items()}


@pytest.mark.parametrize("seed", range(5))
def test_vectorized_choice_matches_plain_loops(tokenizer, tiny, seed):
    examples, f = tiny
    rng = np.random.default_rng(seed)
    start = rng.normal(0, 3, f.input_ids.shape).astype(np.float32)
    end = rng.normal(0, 3, f.input_ids.shape).astype(np.float32)
    if seed % 2:  # coarse logits: many ties, which must resolve as in the reference
        start, end = np.round(start), np.round(end)
    n_best, max_len = 6, 4
    got = predictions_from_logits(examples, f, start, end, tokenizer, n_best, max_len)
    choice = _brute_force(f, start, end, n_best, max_len)
    for e, example in enumerate(examples):
        if e not in choice:
            assert got[example.qas_id] == NO_ANSWER_TEXT
            continue
        row, s, t = choice[e]
        words = example.doc_tokens[f.token_to_orig(row, s) : f.token_to_orig(row, t) + 1]
        pieces = tokenizer.convert_ids_to_tokens([int(i) for i in f.input_ids[row, s : t + 1]])
        pred_text = " ".join(pieces).replace(" ##", "").replace("##", "")
        assert got[example.qas_id] == get_final_text(pred_text, " ".join(words))


def test_logits_shape_must_match_features(tokenizer, tiny):
    examples, f = tiny
    bad = np.zeros((len(f), 16), np.float32)
    with pytest.raises(HarnessError, match="logits: expected start and end of shape"):
        predictions_from_logits(examples, f, bad, bad, tokenizer)


# -- accuracy log ------------------------------------------------------------------------------
def _write_log(path: Path, start, end, order=None, duplicate=None) -> None:
    """Write loadgen's format: [{"seq_id", "qsl_idx", "data": hex of float32 [seq, 2]}]."""
    inter = np.stack([start, end], axis=2).astype("<f4")
    order = range(len(start)) if order is None else order
    entries = [
        {"seq_id": k, "qsl_idx": int(i), "data": inter[i].tobytes().hex().upper()}
        for k, i in enumerate(order)
    ]
    if duplicate is not None:
        entries.append(dict(entries[duplicate], seq_id=len(entries)))
    path.write_text(json.dumps(entries))


def test_accuracy_log_round_trip_real_bytes(tmp_path):
    rng = np.random.default_rng(1)
    start = rng.normal(size=(7, 384)).astype(np.float32)
    end = rng.normal(size=(7, 384)).astype(np.float32)
    log = tmp_path / "mlperf_log_accuracy.json"
    _write_log(log, start, end, order=[3, 0, 6, 1, 5, 2, 4], duplicate=2)
    assert log.stat().st_size > 7 * 3072 * 2  # two hex digits per response byte
    got_start, got_end = read_accuracy_log(log, n_samples=7)
    assert got_start.dtype == np.float32 and got_start.shape == (7, 384)
    np.testing.assert_array_equal(got_start, start)
    np.testing.assert_array_equal(got_end, end)
    idx, logits = read_accuracy_samples(log)
    assert idx.tolist() == list(range(7)) and logits.shape == (7, 384, 2)


def test_malformed_accuracy_logs_name_file_and_sample(tmp_path):
    start = np.zeros((3, 384), np.float32)
    log = tmp_path / "mlperf_log_accuracy.json"
    _write_log(log, start, start, order=[0, 2])
    with pytest.raises(HarnessError, match=r"mlperf_log_accuracy.json: 1 of 3 samples missing"):
        read_accuracy_log(log, 3)
    with pytest.raises(HarnessError, match=r"qsl_idx=2 is out of range"):
        read_accuracy_log(log, 2)
    with pytest.raises(HarnessError, match=r"qsl_idx=0 \(entry 0\): expected 1536 bytes"):
        read_accuracy_log(log, 3, seq_len=192)
    good = json.loads(log.read_text())
    log.write_text(json.dumps([good[0], dict(good[1], data="zz" * 3072)]))
    with pytest.raises(HarnessError, match=r"qsl_idx=2: 'data' is not a hex string"):
        read_accuracy_log(log, 3)
    log.write_text(json.dumps(good)[:-200])
    with pytest.raises(HarnessError, match=r"mlperf_log_accuracy.json: accuracy log is not valid"):
        read_accuracy_log(log, 3)
    log.write_text(json.dumps([{"seq_id": 0, "data": ""}]))
    with pytest.raises(HarnessError, match=r"entry 0: expected a non-negative integer 'qsl_idx'"):
        read_accuracy_log(log, 1)
    with pytest.raises(HarnessError, match="accuracy log not found"):
        read_accuracy_log(tmp_path / "absent.json", 1)


def test_score_accuracy_log_full_and_subset(tmp_path, tokenizer, tiny):
    examples, f = tiny
    quick, fox = _pos(tokenizer, f, 0, "quick"), _pos(tokenizer, f, 0, "fox")
    smith = _pos(tokenizer, f, 2, "smith")
    marks = {(0, quick, "start"): 5, (0, fox, "end"): 5}
    marks |= {(2, smith, "start"): 5, (2, smith, "end"): 5}
    start, end = _logits(f, marks)
    log = tmp_path / "mlperf_log_accuracy.json"
    _write_log(log, start, end, order=[2, 3, 0, 1])
    result = score_accuracy_log(log, examples, f, tokenizer)
    assert (result.exact_match, result.f1) == (100.0, 100.0)
    assert (result.n_samples, result.n_examples, result.n_examples_partial) == (4, 2, 0)
    assert result.predictions == {"a": "quick brown fox", "b": "Smith"}
    assert json.loads(result.accuracy_line()) == {"exact_match": 100.0, "f1": 100.0}

    # Subset QSL: qsl_idx k is feature row sample_rows[k]. Rows 3, 0, 1 cover example a fully
    # and example b only partly: b is left out, not scored 0.
    rows = [3, 0, 1]
    _write_log(log, start[rows], end[rows])
    result = score_accuracy_log(log, examples, f, tokenizer, sample_rows=rows)
    assert (result.n_samples, result.n_examples, result.n_examples_partial) == (3, 1, 1)
    assert result.predictions == {"a": "quick brown fox"}
    assert result.f1 == 100.0
    # The same subset passed as already-selected features (a prefix of rows, as the pipeline
    # builds subset runs): example b lacks its last window and is left out too.
    rows = [0, 1, 2]
    _write_log(log, start[rows], end[rows])
    result = score_accuracy_log(log, examples, f.select(np.asarray(rows)), tokenizer)
    assert (result.n_samples, result.n_examples, result.n_examples_partial) == (3, 1, 1)
    assert result.predictions == {"a": "quick brown fox"}
    _write_log(log, start[[0]], end[[0]])
    with pytest.raises(HarnessError, match="no example has all its features"):
        score_accuracy_log(log, examples, f, tokenizer, sample_rows=[0])
    with pytest.raises(HarnessError, match="no example has all its features"):
        score_accuracy_log(log, examples, f.select(np.asarray([0])), tokenizer)


@pytest.mark.slow
def test_full_dev_set_with_gold_span_logits(tmp_path, shared_data):
    """All 10,833 real features through a real-size log: every question scored, near 100."""
    tokenizer = load_tokenizer(shared_data / "bert-uncased-vocab.txt")
    examples = load_squad(shared_data / "squad-v1.1-dev.json", is_training=True)
    f = convert_examples_to_features(examples, tokenizer, is_training=True, progress=False)
    start = np.zeros(f.input_ids.shape, np.float32)
    end = np.zeros(f.input_ids.shape, np.float32)
    has = np.flatnonzero(f.start_positions > 0)
    start[has, f.start_positions[has]] = 10
    end[has, f.end_positions[has]] = 10
    log = tmp_path / "mlperf_log_accuracy.json"
    _write_log(log, start, end)
    result = score_accuracy_log(log, examples, f, tokenizer)
    assert result.n_samples == len(f) and result.n_examples == len(examples)
    assert len(result.predictions) == len(examples)
    # Gold word spans tightened to sub-tokens; the few misses are golds that are parts of words
    # ("wards" inside "backwards"), which word-level answers cannot match.
    assert result.exact_match > 99.0 and result.f1 > result.exact_match
