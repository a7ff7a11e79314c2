"""Featurization: the MLPerf reference windowing on the real SQuAD v1.1 dev set."""

from __future__ import annotations

import numpy as np
import pytest

from bert_sweep.assets.squad import parse_squad
from bert_sweep.assets.vocab import load_tokenizer, packaged_vocab
from bert_sweep.features.squad_features import (
    FeatureParams,
    Features,
    convert_examples_to_features,
    features_cache_key,
    load_or_build_features,
)


@pytest.fixture(scope="module")
def squad_dev(shared_data, tmp_path_factory):
    """SQuAD dev fetched through the asset mirror option into a fresh cache (the user's path)."""
    from bert_sweep.assets.catalog import CATALOG
    from bert_sweep.assets.download import fetch

    cache = tmp_path_factory.mktemp("cache")
    path = fetch(
        CATALOG["squad_dev"], cache / "downloads", mirror=shared_data, offline=True, progress=False
    )
    return path, cache


@pytest.fixture(scope="module")
def dev_features(squad_dev):
    path, cache = squad_dev
    return load_or_build_features(path, packaged_vocab(), cache, progress=False)


def test_real_dev_set_gives_exactly_10833_features(dev_features):
    features, examples, _ = dev_features
    assert len(examples) == 10570
    assert len(features) == 10833
    assert features.input_ids.shape == (10833, 384)
    # Every example has at least one feature, in order.
    assert np.array_equal(np.unique(features.example_index), np.arange(10570))
    assert np.all(np.diff(features.example_index) >= 0)


def test_feature_layout_cls_query_sep_doc_sep(dev_features):
    features, _, _ = dev_features
    lengths = features.lengths()
    for i in range(0, len(features), 997):
        ids = features.input_ids[i]
        off, n = int(features.doc_offset[i]), int(features.span_length[i])
        assert ids[0] == 101 and ids[off - 1] == 102 and ids[off + n] == 102
        assert lengths[i] == off + n + 1 and not ids[lengths[i] :].any()
        assert not features.segment_ids[i, :off].any()
        assert features.segment_ids[i, off : off + n + 1].all()
        assert off - 2 <= 64  # query truncated to max_query_length


def _wordpiece(word: str, vocab: dict[str, int]) -> list[str]:
    """Greedy longest-match-first WordPiece, as in google-research/bert's tokenization."""
    if len(word) > 100:
        return ["[UNK]"]
    out, start = [], 0
    while start < len(word):
        end, piece = len(word), None
        while start < end:
            sub = ("##" if start else "") + word[start:end]
            if sub in vocab:
                piece = sub
                break
            end -= 1
        if piece is None:
            return ["[UNK]"]
        out.append(piece)
        start = end
    return out


def _slow_tokenize(text: str, vocab: dict[str, int]) -> list[int]:
    from bert_sweep.evaluation.postprocess import basic_tokenize

    return [vocab[p] for w in basic_tokenize(text) for p in _wordpiece(w, vocab)]


def test_fast_path_matches_per_word_reference_tokenization(dev_features):
    """The batched fast tokenizer gives the same ids as tokenizing each word on its own."""
    from transformers.models.bert.tokenization_bert import load_vocab

    features, examples, _ = dev_features
    vocab = dict(load_vocab(str(packaged_vocab())))
    checked = 0
    for i in range(0, len(features), 41):
        ex = examples[features.example_index[i]]
        query = _slow_tokenize(ex.question_text, vocab)[:64]
        doc = [t for w in ex.doc_tokens for t in _slow_tokenize(w, vocab)]
        start, n = int(features.span_start[i]), int(features.span_length[i])
        expected = [101, *query, 102, *doc[start : start + n], 102]
        assert features.input_ids[i, : len(expected)].tolist() == expected, ex.qas_id
        checked += 1
    assert checked > 250


def test_windows_slide_by_doc_stride_and_mark_max_context(dev_features):
    features, _, _ = dev_features
    multi = np.flatnonzero(np.bincount(features.example_index) > 1)
    assert len(multi) > 100  # 10,833 - 10,570 extra windows come from long contexts
    e = int(multi[0])
    rows = np.flatnonzero(features.example_index == e)
    starts = features.span_start[rows]
    assert starts[0] == 0 and np.all(np.diff(starts) == 128)
    # Each document sub-token has its max context in exactly one window.
    seen: dict[int, int] = {}
    for r in rows:
        off = int(features.doc_offset[r])
        for k in range(int(features.span_length[r])):
            if features.max_context[r, off + k]:
                tok = int(features.span_start[r]) + k
                seen[tok] = seen.get(tok, 0) + 1
    n_doc = int(starts[-1] + features.span_length[rows[-1]])
    assert sorted(seen) == list(range(n_doc)) and set(seen.values()) == {1}


def test_cache_is_reused_and_keyed_by_parameters(squad_dev, dev_features):
    path, cache = squad_dev
    _, _, first = dev_features
    again, _, second = load_or_build_features(path, packaged_vocab(), cache, progress=False)
    assert first == second and len(again) == 10833
    assert features_cache_key("a", "b", FeatureParams(), False) != features_cache_key(
        "a", "b", FeatureParams(doc_stride=64), False
    )


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    tok = load_tokenizer(packaged_vocab())
    data = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": "The cat sat on the mat.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Where did the cat sit?",
                                "answers": [{"text": "on the mat", "answer_start": 12}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    feats = convert_examples_to_features(parse_squad(data), tok, progress=False)
    path = tmp_path / "f.npz"
    feats.save(path)
    assert len(Features.load(path)) == 1
    path.write_bytes(b"garbage")
    with pytest.raises(Exception):  # noqa: B017 - numpy raises differing types for garbage
        Features.load(path)


def test_training_labels_point_at_the_answer():
    tok = load_tokenizer(packaged_vocab())
    context = "Ada Lovelace was born in London in 1815. She wrote the first program."
    data = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "When was Ada born?",
                                "answers": [
                                    {"text": "1815", "answer_start": context.index("1815")}
                                ],
                            },
                            {
                                "id": "q2",
                                "question": "Where was she born?",
                                "answers": [
                                    {"text": "London", "answer_start": context.index("London")}
                                ],
                            },
                        ],
                    }
                ],
            }
        ]
    }
    examples = parse_squad(data, is_training=True)
    feats = convert_examples_to_features(examples, tok, is_training=True, progress=False)
    for i, answer in enumerate(["1815", "london"]):
        s, e = int(feats.start_positions[i]), int(feats.end_positions[i])
        toks = tok.convert_ids_to_tokens(feats.input_ids[i, s : e + 1].tolist())
        assert "".join(t.removeprefix("##") for t in toks) == answer
