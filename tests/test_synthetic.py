"""The synthetic SQuAD generator: deterministic, correct spans, held-out dev names, variety."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bert_sweep.assets.squad import load_squad, parse_squad
from bert_sweep.embedded.synthetic import (
    DOMAINS,
    count_questions,
    generate_squad,
    name_pools,
    write_squad,
)
from bert_sweep.errors import BertSweepError

ENTITY_KINDS = ("person", "place", "organisation")


@pytest.fixture(scope="module")
def dev() -> dict:
    return generate_squad("dev", 0, 40)


@pytest.fixture(scope="module")
def train() -> dict:
    return generate_squad("train", 0, 150)


def _qas(data: dict):
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield paragraph["context"], qa


def test_same_seed_same_document_and_prefix_stable():
    a = generate_squad("dev", 7, 12)
    assert a == generate_squad("dev", 7, 12)
    # Asking for more articles does not change the first ones.
    assert generate_squad("dev", 7, 20)["data"][:12] == a["data"]


def test_seeds_and_splits_differ():
    base = generate_squad("dev", 0, 5)
    assert base != generate_squad("dev", 1, 5)
    assert base["data"][0]["title"] != generate_squad("train", 0, 5)["data"][0]["title"]


def test_squad_v11_structure_and_unique_ids(dev):
    assert dev["version"] == "1.1"
    ids = [qa["id"] for _, qa in _qas(dev)]
    assert len(ids) == len(set(ids)) == count_questions(dev)
    for article in dev["data"]:
        assert article["title"] and len(article["paragraphs"]) >= 2
    examples = parse_squad(dev, is_training=True)
    assert len(examples) == count_questions(dev)


def test_every_answer_start_points_at_its_text(dev, train):
    checked = 0
    for data in (dev, train):
        for context, qa in _qas(data):
            (answer,) = qa["answers"]
            start, text = answer["answer_start"], answer["text"]
            assert text and text == text.strip()
            assert context[start : start + len(text)] == text, qa["id"]
            checked += 1
    assert checked > 3000


def test_answer_spans_map_to_whole_words(dev):
    # The reference reader turns answers into word indices; the words must spell the answer.
    examples = parse_squad(dev, is_training=True)
    for ex in examples:
        words = " ".join(ex.doc_tokens[ex.start_position : ex.end_position + 1])
        answer = ex.answers[0]
        assert words.startswith(answer), (words, answer)
        assert words[len(answer) :].strip(".,;") == "", (words, answer)


def test_dev_pools_disjoint_from_train():
    tr, dv = name_pools("train"), name_pools("dev")
    for field in ("first_names", "surnames", "places", "brands", "years"):
        a, b = set(getattr(tr, field)), set(getattr(dv, field))
        assert a and b, field
        assert not a & b, f"{field} shared: {sorted(a & b)[:5]}"


def test_dev_entity_answers_never_appear_in_train_text(dev, train):
    train_text = "\n".join(
        p["context"] + " " + " ".join(q["question"] for q in p["qas"])
        for a in train["data"]
        for p in a["paragraphs"]
    )
    answers = {qa["answers"][0]["text"] for _, qa in _qas(dev) if qa["kind"] in ENTITY_KINDS}
    assert len(answers) > 200
    leaked = [a for a in answers if re.search(rf"\b{re.escape(a)}\b", train_text)]
    assert not leaked, leaked[:5]
    dev_years = {qa["answers"][0]["text"] for _, qa in _qas(dev) if qa["kind"] == "year"}
    train_years = {qa["answers"][0]["text"] for _, qa in _qas(train) if qa["kind"] == "year"}
    assert dev_years and not dev_years & train_years


def test_answer_kind_variety(dev):
    kinds = Counter(qa["kind"] for _, qa in _qas(dev))
    expected = {
        "person",
        "place",
        "organisation",
        "date",
        "year",
        "number",
        "quantity",
        "money",
        "phrase",
        "title",
    }
    assert expected <= set(kinds)
    total = sum(kinds.values())
    assert max(kinds.values()) < 0.3 * total  # no kind dominates
    multiword = sum(len(qa["answers"][0]["text"].split()) >= 2 for _, qa in _qas(dev))
    assert multiword > 0.3 * total
    domains_seen = {a["title"] for a in dev["data"]}
    assert len(domains_seen) == len(dev["data"])  # one subject per article
    assert len(DOMAINS) >= 6


def test_questions_are_paraphrased_not_cloze(dev):
    shapes = set()
    for context, qa in _qas(dev):
        question = qa["question"].rstrip("?")
        answer = qa["answers"][0]["text"]
        # A cloze question would be a context sentence with the answer cut out.
        for sentence in re.split(r"(?<=\.) ", context):
            if answer in sentence:
                assert question not in sentence.replace(answer, "")
        # The question's shape: names and numbers replaced, so only the phrasing is left.
        shapes.add(re.sub(r"(?<!^)\b[A-Z][\w'.-]*|\d[\d,.]*", "X", question))
    assert len(shapes) >= 120


def test_paragraphs_hold_same_type_distractors(dev):
    # Most questions have another candidate of the same kind in their context.
    same_kind = total = 0
    for article in dev["data"]:
        for paragraph in article["paragraphs"]:
            by_kind = Counter(qa["kind"] for qa in paragraph["qas"])
            for qa in paragraph["qas"]:
                total += 1
                same_kind += by_kind[qa["kind"]] >= 2
    assert same_kind > 0.5 * total


def test_context_lengths_and_long_contexts(dev):
    words = [len(p["context"].split()) for a in dev["data"] for p in a["paragraphs"]]
    normal = sorted(words)[: int(0.9 * len(words))]
    assert min(words) >= 45
    assert 60 <= np.mean(normal) <= 200
    assert sum(w > 300 for w in words) >= 3


def test_long_contexts_make_several_windows(dev):
    from bert_sweep.assets.vocab import load_tokenizer, packaged_vocab
    from bert_sweep.features.squad_features import convert_examples_to_features

    tokenizer = load_tokenizer(packaged_vocab())
    examples = parse_squad(dev, is_training=True)
    features = convert_examples_to_features(examples, tokenizer, is_training=True, progress=False)
    windows = np.bincount(features.example_index, minlength=len(examples))
    multi = np.flatnonzero(windows > 1)
    assert len(multi) >= 10
    assert all(len(examples[i].doc_tokens) > 250 for i in multi)
    # Some answers of long contexts lie only in a later window.
    rows = np.isin(features.example_index, multi)
    first_window = np.zeros(len(features), bool)
    first_window[np.unique(features.example_index, return_index=True)[1]] = True
    later = rows & ~first_window & (features.start_positions > 0)
    assert later.any()


def test_write_squad_atomic_roundtrip(tmp_path, dev):
    path = write_squad(tmp_path / "sub" / "dev.json", dev)
    assert json.loads(path.read_text(encoding="utf-8")) == dev
    assert [p.name for p in path.parent.iterdir()] == ["dev.json"]  # no temp file left
    assert len(load_squad(path)) == count_questions(dev)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"split": "test", "seed": 0, "n_articles": 3}, "split"),
        ({"split": "dev", "seed": 0, "n_articles": 0}, "n_articles"),
        ({"split": "dev", "seed": "0", "n_articles": 3}, "seed"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs, field):
    with pytest.raises(BertSweepError, match=field) as info:
        generate_squad(**kwargs)
    assert "\n" not in str(info.value)


def test_write_squad_rejects_non_squad(tmp_path):
    with pytest.raises(BertSweepError, match=r"dev\.json"):
        write_squad(tmp_path / "dev.json", {"nope": 1})


# -- word pools and templates are package data ---------------------------------------------------
# sha256 of write_squad(generate_squad(split, 0, n)) as generated by GENERATOR_VERSION 1 (the
# embedded build's dev set is ("dev", 0, 70)). The embedded model's cache is keyed by the spec and
# GENERATOR_VERSION: if the text changes, these change, and GENERATOR_VERSION must be bumped.
GENERATED_SHA256 = {
    1: {
        ("dev", 70): "ade0e15f06f13f87b6e97ee524ad73a3a50abbf38b601692f2bc540c578753db",
        ("train", 50): "3519b894ceda8b9ae1ce7327b869d700b1f851e759422f3f3aafad3557305d1b",
    }
}


@pytest.mark.parametrize(("split", "n"), [("dev", 70), ("train", 50)])
def test_generated_bytes_are_pinned_by_the_generator_version(tmp_path, split, n):
    import hashlib

    from bert_sweep.embedded.synthetic import GENERATOR_VERSION

    path = write_squad(tmp_path / "d.json", generate_squad(split, 0, n))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == GENERATED_SHA256[GENERATOR_VERSION][(split, n)]


def test_pools_and_templates_come_from_package_data():
    """The generator's text material lives in bert_sweep/embedded/data/, not in the module."""
    from importlib.resources import files

    import bert_sweep.embedded.synthetic as synthetic

    data = files("bert_sweep.embedded") / "data"
    words = json.loads((data / "words.json").read_text(encoding="utf-8"))
    pools = name_pools("train")
    assert set(pools.first_names) <= set(words["names"]["first_names"])
    assert set(pools.surnames) <= set(words["names"]["surnames"])
    for domain in DOMAINS:
        table = (data / f"{domain.name}.txt").read_text(encoding="utf-8")
        statements = [s for rel in domain.relations for s in rel.statements]
        assert statements and all(f"= {s}\n" in table for s in statements), domain.name
    source = Path(synthetic.__file__).read_text(encoding="utf-8")
    assert "Aaron Abigail" not in source and '"""\n@ ' not in source  # no inline tables left
