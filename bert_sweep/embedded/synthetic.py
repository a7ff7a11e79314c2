"""Synthetic SQuAD-v1.1-format data: a reading-comprehension task a small model can learn offline.

Why it looks like this: the real BERT weights and training data cannot be downloaded here, so the
embedded default model is fine-tuned on generated text. For the task to measure *reading* rather
than memorisation, every paragraph

* states facts about one subject with several sentence templates, and the questions use other
  words (several phrasings per fact, often naming another value of the same fact);
* holds distractors of the same type: a second entity of the same kind with the same relations,
  other years, numbers, places and people in filler sentences;
* uses names and years from pools that are disjoint between the train and dev splits: every
  atomic name (first name, surname, place, brand, year) is assigned to a split by a fixed hash of
  its spelling, independent of the seed, so no dev answer can be learnt by heart.

Answers come in several kinds (person, place, organisation, date, year, number, quantity with a
unit, money, multi-word phrase, title); each question carries its kind in an extra `kind` key that
SQuAD readers ignore. Contexts are 60-200 words; every tenth article also gets one long paragraph
(over 384 tokens) so multi-window featurization is exercised.
"""

from __future__ import annotations

import json
import re
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from random import Random

from bert_sweep.atomic import write_json_atomic
from bert_sweep.errors import AssetError, field_error

# Bump whenever the generated text changes: it is part of the embedded build's cache key.
GENERATOR_VERSION = 1
SPLITS = ("train", "dev")
# Share of atomic names and years held out for the dev split.
DEV_SHARE = 5  # 1 in 5
LONG_EVERY = 10  # article index % LONG_EVERY == LONG_EVERY - 1 gets one long paragraph
LONG_QUESTIONS = 8  # questions asked about a long paragraph


# -- word pools and template tables: package data (bert_sweep/embedded/data/) -----------------
# Kept out of the code so the generator reads as logic; any edit to them changes the generated
# text, so bump GENERATOR_VERSION with it.
_DATA = files("bert_sweep.embedded") / "data"


def _template(name: str) -> str:
    """One domain's template table, data/<name>.txt (format described above `_PERSON_TEXT`)."""
    return (_DATA / f"{name}.txt").read_text(encoding="utf-8")


_WORDS = json.loads((_DATA / "words.json").read_text(encoding="utf-8"))
# atomic name material (split between train and dev by hash)
_FIRST_NAMES: list[str] = _WORDS["names"]["first_names"]
_SURNAMES: list[str] = _WORDS["names"]["surnames"]
_PLACE_STEMS: list[str] = _WORDS["names"]["place_stems"]
_PLACE_ENDINGS: list[str] = _WORDS["names"]["place_endings"]
_BRAND_HEADS: list[str] = _WORDS["names"]["brand_heads"]
_BRAND_TAILS: list[str] = _WORDS["names"]["brand_tails"]
# shared vocabulary (not names: the same in both splits)
_VOCAB: dict[str, list[str]] = _WORDS["vocabulary"]
_SECTORS = _VOCAB["sectors"]
_MASCOTS = _VOCAB["mascots"]
_EVENT_KINDS = _VOCAB["event_kinds"]
_BUILDING_KINDS = _VOCAB["building_kinds"]
_MODEL_WORDS = _VOCAB["model_words"]
_FIELDS = _VOCAB["fields"]
_ROLES = _VOCAB["roles"]
_INDUSTRIES = _VOCAB["industries"]
_KNOWN_FOR = _VOCAB["known_for"]
_COLOURS = _VOCAB["colours"]
_TITLE_ADJ = _VOCAB["title_adj"]
_TITLE_NOUNS = _VOCAB["title_nouns"]
_MONTHS = _VOCAB["months"]
_RELATIONS_PERSON = _VOCAB["relations_person"]


def _is_dev_atom(atom: str) -> bool:
    """Fixed split of an atomic name or value by a hash of its spelling (seed independent)."""
    return zlib.crc32(atom.encode("utf-8")) % DEV_SHARE == 0


def _split_atoms(atoms: list[str], split: str) -> list[str]:
    want_dev = split == "dev"
    return sorted({a for a in atoms if _is_dev_atom(a) == want_dev})


@dataclass(frozen=True)
class Pools:
    """The atomic names and years one split may use."""

    first_names: list[str]
    surnames: list[str]
    places: list[str]
    brands: list[str]
    years: list[int]


@lru_cache(maxsize=2)
def name_pools(split: str) -> Pools:
    """Pools of the split; the train and dev pools share no element (by construction)."""
    if split not in SPLITS:
        raise field_error("split", split, f"one of {', '.join(SPLITS)}")
    places = [s + e for s in _PLACE_STEMS for e in _PLACE_ENDINGS]
    # Drop awkward doubled letters at the joint ("Hallley"); keeps names pronounceable.
    places = [p for p in places if not re.search(r"(.)\1\1", p.lower())]
    brands = [h + t for h in _BRAND_HEADS for t in _BRAND_TAILS]
    years = [str(y) for y in range(1820, 2024)]
    return Pools(
        first_names=_split_atoms(_FIRST_NAMES, split),
        surnames=_split_atoms(_SURNAMES, split),
        places=_split_atoms(places, split),
        brands=_split_atoms(brands, split),
        years=[int(y) for y in _split_atoms(years, split)],
    )


# -- value generators ----------------------------------------------------------------------
@dataclass
class _Ctx:
    """What a value generator may use: the split's pools, the rng, the entity's era."""

    rng: Random
    pools: Pools
    era: int  # first year of the entity's 80-year window

    def year(self, lo: int = 20, hi: int = 80) -> int:
        """A year of the pool in [era + lo, era + hi): facts of one entity stay plausible."""
        window = [y for y in self.pools.years if self.era + lo <= y < self.era + hi]
        return self.rng.choice(window or self.pools.years)


def _person(c: _Ctx) -> str:
    first, last = c.rng.choice(c.pools.first_names), c.rng.choice(c.pools.surnames)
    if c.rng.random() < 0.15:
        return f"{first} {c.rng.choice(string.ascii_uppercase)}. {last}"
    return f"{first} {last}"


def _place(c: _Ctx) -> str:
    return c.rng.choice(c.pools.places)


def _brand(c: _Ctx) -> str:
    return c.rng.choice(c.pools.brands)


def _company(c: _Ctx) -> str:
    return f"{_brand(c)} {c.rng.choice(_SECTORS)}"


def _university(c: _Ctx) -> str:
    forms = (
        "University of {p}",
        "{p} Institute of Technology",
        "{p} College of Arts",
        "{n} University",
        "{p} Polytechnic",
    )
    return c.rng.choice(forms).format(p=_place(c), n=c.rng.choice(c.pools.surnames))


def _organiser(c: _Ctx) -> str:
    choice = c.rng.random()
    if choice < 0.4:
        return _company(c)
    if choice < 0.7:
        return _university(c)
    return f"{_place(c)} {c.rng.choice(['Cultural Society', 'Trade Council', 'Arts Foundation'])}"


def _count(c: _Ctx, lo: int = 120, hi: int = 950_000) -> str:
    # Log-uniform magnitudes, rounded like reported figures.
    value = int(lo * (hi / lo) ** c.rng.random())
    if value >= 10_000:
        value = round(value, -2)
    return f"{value:,}"


def _money(c: _Ctx) -> str:
    sym = c.rng.choice("$€£")
    roll = c.rng.random()
    if roll < 0.4:
        return f"{sym}{c.rng.randint(12, 980) / 10:.1f} million"
    if roll < 0.8:
        return f"{sym}{c.rng.randint(11, 990) * 1000:,}"
    return f"{sym}{c.rng.randint(2, 48)} billion"


def _price(c: _Ctx) -> str:
    return f"{c.rng.choice('$€£')}{c.rng.randint(19, 2400):,}"


def _date(c: _Ctx) -> str:
    day, month, year = c.rng.randint(1, 28), c.rng.choice(_MONTHS), c.year()
    return f"{day} {month} {year}" if c.rng.random() < 0.6 else f"{month} {day}, {year}"


def _unit(unit: str, lo: int, hi: int, decimals: int = 0) -> Callable[[_Ctx], str]:
    def gen(c: _Ctx) -> str:
        if decimals:
            return f"{c.rng.randint(lo, hi) / 10**decimals:.{decimals}f} {unit}"
        return f"{c.rng.randint(lo, hi):,} {unit}"

    return gen


def _title(c: _Ctx) -> str:
    adj, noun = c.rng.choice(_TITLE_ADJ), c.rng.choice(_TITLE_NOUNS)
    forms = ("The {a} {n}", "{a} {n}", "A {n} in {p}", "The {n} of {p}")
    return c.rng.choice(forms).format(a=adj, n=noun, p=_place(c))


def _award(c: _Ctx) -> str:
    forms = ("{s} Medal", "{s} Prize", "{p} Award", "{s} Fellowship")
    return c.rng.choice(forms).format(s=c.rng.choice(c.pools.surnames), p=_place(c))


def _product(c: _Ctx) -> str:
    model = c.rng.choice(_MODEL_WORDS)
    if c.rng.random() < 0.5:
        model += f" {c.rng.randint(2, 9) * 100}"
    return f"{_brand(c)} {model}"


def _venue(c: _Ctx) -> str:
    forms = ("{s} Park", "{p} Arena", "{s} Stadium", "{p} Showground")
    return c.rng.choice(forms).format(s=c.rng.choice(c.pools.surnames), p=_place(c))


def _colours(c: _Ctx) -> str:
    a, b = c.rng.sample(_COLOURS, 2)
    return f"{a} and {b}"


# generator name -> (function, answer kind)
_GEN: dict[str, tuple[Callable[[_Ctx], str], str]] = {
    "person": (_person, "person"),
    "place": (_place, "place"),
    "region": (_place, "place"),
    "river": (lambda c: f"{_place(c)} River", "place"),
    "venue": (_venue, "place"),
    "company": (_company, "organisation"),
    "university": (_university, "organisation"),
    "organiser": (_organiser, "organisation"),
    "team": (lambda c: f"{_place(c)} {c.rng.choice(_MASCOTS)}", "organisation"),
    "year": (lambda c: str(c.year()), "year"),
    "byear": (lambda c: str(c.year(0, 15)), "year"),  # births, foundings
    "dyear": (lambda c: str(c.year(60, 100)), "year"),  # deaths
    "date": (_date, "date"),
    "count": (_count, "number"),
    "small": (lambda c: str(c.rng.randint(2, 19)), "number"),
    "age": (lambda c: str(c.rng.randint(41, 98)), "number"),
    "money": (_money, "money"),
    "price": (_price, "money"),
    "copies": (lambda c: f"{_count(c, 2_000, 4_000_000)} copies", "quantity"),
    "distance": (_unit("kilometres", 12, 940), "quantity"),
    "weight": (_unit("kilograms", 2, 95, 1), "quantity"),
    "hours": (_unit("hours", 4, 60), "quantity"),
    "days": (_unit("days", 2, 21), "quantity"),
    "area": (_unit("square kilometres", 8, 1900), "quantity"),
    "height": (_unit("metres", 35, 640), "quantity"),
    "goals": (_unit("goals", 40, 390), "quantity"),
    "field": (lambda c: c.rng.choice(_FIELDS), "phrase"),
    "role": (lambda c: c.rng.choice(_ROLES), "phrase"),
    "industry": (lambda c: c.rng.choice(_INDUSTRIES), "phrase"),
    "known": (lambda c: c.rng.choice(_KNOWN_FOR), "phrase"),
    "colours": (_colours, "phrase"),
    "title": (_title, "title"),
    "award": (_award, "title"),
    "product": (_product, "title"),
}


# -- relations and domains ----------------------------------------------------------------
@dataclass(frozen=True)
class Relation:
    """One kind of fact: its slots, how it is stated, and how each slot is asked about."""

    name: str
    slots: dict[str, str]  # slot -> generator name in _GEN
    statements: list[str]  # templates over {s} and the slots
    questions: dict[str, list[str]]  # slot -> question templates over {s} and slots


@dataclass(frozen=True)
class Domain:
    name: str
    subject: Callable[[_Ctx], tuple[str, str]]  # -> (title, reference used in text)
    relations: tuple[Relation, ...]
    # Sentences linking a distractor {d} of the same type to the subject {s}, and questions
    # whose answer is {d}.
    intros: tuple[tuple[str, list[str]], ...]
    fillers: tuple[str, ...]  # no answer; may contain {s}, {person}, {place}, {year}, {count}


# Template tables (data/<domain>.txt), one line each:
#   @ relation slot:generator ...   a kind of fact; generators are the keys of _GEN
#   = statement                     how the fact is stated ({s} = subject, {slot} = value)
#   ? slot | question               one phrasing of a question whose answer is that slot
#   + intro                         a sentence linking a distractor {d} (same type) to {s}
#   +? question                     a question whose answer is that distractor
#   ~ filler                        a sentence with no answer ({person} {place} {year} {count})
_PERSON_TEXT = _template("person")
_COMPANY_TEXT = _template("company")
_CITY_TEXT = _template("city")
_EVENT_TEXT = _template("event")
_PRODUCT_TEXT = _template("product")
_TEAM_TEXT = _template("team")
_BUILDING_TEXT = _template("building")


def _parse_domain(name: str, subject: Callable[[_Ctx], tuple[str, str]], text: str) -> Domain:
    """Parse a domain's template table (format described above `_PERSON_TEXT`)."""
    relations: list[Relation] = []
    intros: list[tuple[str, list[str]]] = []
    fillers: list[str] = []
    for raw in text.strip().splitlines():
        tag, _, body = raw.partition(" ")
        if tag == "@":
            rel_name, *slots = body.split()
            relations.append(Relation(rel_name, dict(s.split(":") for s in slots), [], {}))
        elif tag == "=":
            relations[-1].statements.append(body)
        elif tag == "?":
            slot, _, question = body.partition(" | ")
            relations[-1].questions.setdefault(slot, []).append(question)
        elif tag == "+":
            intros.append((body, []))
        elif tag == "+?":
            intros[-1][1].append(body)
        elif tag == "~":
            fillers.append(body)
        else:
            raise ValueError(f"domain {name}: bad template line {raw!r}")
    return Domain(name, subject, tuple(relations), tuple(intros), tuple(fillers))


PERSON = _parse_domain("person", lambda c: (n := _person(c), n), _PERSON_TEXT)
COMPANY = _parse_domain("company", lambda c: (n := _company(c), n), _COMPANY_TEXT)
CITY = _parse_domain("city", lambda c: (n := _place(c), n), _CITY_TEXT)
EVENT = _parse_domain(
    "event", lambda c: (n := f"{_place(c)} {c.rng.choice(_EVENT_KINDS)}", f"the {n}"), _EVENT_TEXT
)
PRODUCT = _parse_domain("product", lambda c: (n := _product(c), f"the {n}"), _PRODUCT_TEXT)
TEAM = _parse_domain(
    "team", lambda c: (n := f"{_place(c)} {c.rng.choice(_MASCOTS)}", f"the {n}"), _TEAM_TEXT
)
BUILDING = _parse_domain(
    "building",
    lambda c: (n := f"{_place(c)} {c.rng.choice(_BUILDING_KINDS)}", f"the {n}"),
    _BUILDING_TEXT,
)
DOMAINS: tuple[Domain, ...] = (PERSON, COMPANY, CITY, EVENT, PRODUCT, TEAM, BUILDING)

_GENERIC_FILLERS: tuple[str, ...] = tuple(_WORDS["generic_fillers"])


# -- rendering -------------------------------------------------------------------------------
_FORMATTER = string.Formatter()


def _render(template: str, values: dict[str, str]) -> tuple[str, dict[str, int]]:
    """Fill a template; return the text and the character offset of each placeholder's value."""
    out: list[str] = []
    pos = 0
    offsets: dict[str, int] = {}
    for literal, field, _spec, _conv in _FORMATTER.parse(template):
        out.append(literal)
        pos += len(literal)
        if field is not None:
            text = values[field]
            offsets.setdefault(field, pos)
            out.append(text)
            pos += len(text)
    return "".join(out), offsets


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass
class _Unit:
    """One sentence and the questions it answers: (question, offset in sentence, length, kind)."""

    text: str
    qas: list[tuple[str, int, int, str]]


def _values(c: _Ctx, rel: Relation, avoid: dict[str, str] | None = None) -> dict[str, str]:
    """Slot values for one fact; different from `avoid` (the subject's) slot by slot."""
    values = {}
    for slot, gen in rel.slots.items():
        fn = _GEN[gen][0]
        value = fn(c)
        for _ in range(20):
            if not avoid or value != avoid.get(slot):
                break
            value = fn(c)
        values[slot] = value
    return values


def _fact_unit(c: _Ctx, rel: Relation, ref: str, values: dict[str, str], ask: float) -> _Unit:
    text, offsets = _render(c.rng.choice(rel.statements), {"s": ref, **values})
    qas = []
    for slot in rel.slots:
        if c.rng.random() >= ask:
            continue
        question, _ = _render(c.rng.choice(rel.questions[slot]), {"s": ref, **values})
        kind = _GEN[rel.slots[slot]][1]
        qas.append((_sentence_case(question), offsets[slot], len(values[slot]), kind))
    return _Unit(_sentence_case(text), qas)


def _filler(c: _Ctx, template: str, ref: str) -> _Unit:
    values = {
        "s": ref,
        "person": _person(c),
        "place": _place(c),
        "year": str(c.year()),
        "count": _count(c, 20, 90_000),
    }
    return _Unit(_sentence_case(_render(template, values)[0]), [])


def _words(units: list[_Unit]) -> int:
    return sum(len(u.text.split()) for u in units)


def _paragraph(
    c: _Ctx,
    domain: Domain,
    subject: tuple[str, str],
    relations: list[Relation],
    facts: dict[str, dict[str, str]],
    target_words: int,
    n_distractors: int,
    max_questions: int = 1000,
) -> tuple[str, list[tuple[str, int, str, str]]]:
    """Context text and its (question, answer_start, answer_text, kind) list."""
    _, ref = subject
    units = [_fact_unit(c, rel, ref, facts[rel.name], ask=1.0) for rel in relations]
    blocks: list[list[_Unit]] = []
    used_names = {subject[0]}
    used_intros: set[tuple[str, str]] = set()

    def distractor_block() -> list[_Unit]:
        d_title, d_ref = domain.subject(c)
        while d_title in used_names:
            d_title, d_ref = domain.subject(c)
        used_names.add(d_title)
        block = []
        # Each intro (with its relation word) at most once per paragraph, so that the question
        # it answers has a single answer; later distractors come without an intro.
        options = [
            (intro, questions, rel)
            for intro, questions in domain.intros
            for rel in (_RELATIONS_PERSON if "{rel}" in intro else [""])
            if (intro, rel) not in used_intros
        ]
        if options:
            intro, intro_questions, rel_word = c.rng.choice(options)
            used_intros.add((intro, rel_word))
            # The intro names the distractor by its bare title ("the {d}" templates add "the").
            values = {"s": ref, "d": d_title, "rel": rel_word}
            text, offsets = _render(intro, values)
            block_qas = []
            if c.rng.random() < 0.4:
                question, _ = _render(c.rng.choice(intro_questions), values)
                kind = "person" if domain is PERSON else _distractor_kind(domain)
                block_qas.append((_sentence_case(question), offsets["d"], len(d_title), kind))
            block.append(_Unit(_sentence_case(text), block_qas))
        shared = c.rng.sample(relations, k=min(len(relations), c.rng.randint(1, 2)))
        for rel in shared:
            d_values = _values(c, rel, avoid=facts[rel.name])
            block.append(_fact_unit(c, rel, d_ref, d_values, ask=0.5))
        return block

    def words() -> int:
        return _words(units) + sum(_words(b) for b in blocks) + _words(extra)

    blocks.extend(distractor_block() for _ in range(n_distractors))
    fillers = [*domain.fillers, *_GENERIC_FILLERS]
    c.rng.shuffle(fillers)
    extra: list[_Unit] = []
    while fillers and words() < target_words:
        extra.append(_filler(c, fillers.pop(), ref))
    while words() < target_words and len(blocks) < 6:  # long paragraphs: more distractors
        blocks.append(distractor_block())

    # Order: subject facts and fillers mixed, each distractor block kept together.
    c.rng.shuffle(units)
    body = units + extra
    c.rng.shuffle(body)
    if body and body[0].qas == [] and units:
        # Open with a subject fact so the paragraph reads as being about the subject.
        first = units[0]
        body.remove(first)
        body.insert(0, first)
    for block in blocks:
        at = c.rng.randint(1, len(body))
        body[at:at] = block

    parts: list[str] = []
    qas: list[tuple[str, int, str, str]] = []
    pos = 0
    for unit in body:
        if parts:
            pos += 1  # the joining space
        for question, off, length, kind in unit.qas:
            qas.append((question, pos + off, unit.text[off : off + length], kind))
        parts.append(unit.text)
        pos += len(unit.text)
    if len(qas) > max_questions:
        # Long contexts make several 384-token windows per question: keep their count modest.
        keep = sorted(c.rng.sample(range(len(qas)), max_questions))
        qas = [qas[i] for i in keep]
    return " ".join(parts), qas


def _distractor_kind(domain: Domain) -> str:
    return {"city": "place", "building": "place", "product": "title", "event": "title"}.get(
        domain.name, "organisation"
    )


def _article(c: _Ctx, domain: Domain, index: int, split: str, seed: int) -> dict:
    subject = domain.subject(c)
    relations = list(domain.relations)
    c.rng.shuffle(relations)
    facts = {rel.name: _values(c, rel) for rel in relations}
    if "born" in facts and "died" in facts:
        facts["died"]["age"] = str(int(facts["died"]["year"]) - int(facts["born"]["year"]))
    # 2-3 relations per paragraph.
    groups: list[list[Relation]] = []
    while relations:
        take = 3 if len(relations) in (3, 6) or c.rng.random() < 0.5 else 2
        take = min(take, len(relations))
        if len(relations) - take == 1:
            take = len(relations) if take == 2 else 2
        groups.append(relations[:take])
        relations = relations[take:]
    long_at = len(groups) - 1 if index % LONG_EVERY == LONG_EVERY - 1 else -1
    paragraphs = []
    for p, group in enumerate(groups):
        if p == long_at:
            target, n_distractors = c.rng.randint(330, 420), 2
        else:
            target, n_distractors = c.rng.randint(45, 120), 1
        if p == long_at:
            # A long paragraph restates the subject's other facts too, spread over the windows.
            others = [r for g in groups if g is not group for r in g]
            group = group + c.rng.sample(others, k=min(len(others), 4))
        limit = LONG_QUESTIONS if p == long_at else 1000
        context, qas = _paragraph(c, domain, subject, group, facts, target, n_distractors, limit)
        paragraphs.append(
            {
                "context": context,
                "qas": [
                    {
                        "id": f"syn-{split}-{seed}-{index:05d}-{p:02d}-{q:02d}",
                        "question": question,
                        "answers": [{"text": text, "answer_start": start}],
                        "kind": kind,
                    }
                    for q, (question, start, text, kind) in enumerate(qas)
                ],
            }
        )
    return {"title": subject[0].replace(" ", "_"), "paragraphs": paragraphs}


def generate_squad(split: str, seed: int, n_articles: int) -> dict:
    """A SQuAD v1.1 document of `n_articles` synthetic articles for `split` ("train" or "dev").

    Deterministic: the same (split, seed, n_articles) gives the same document, and the first k
    articles do not depend on n_articles.
    """
    if split not in SPLITS:
        raise field_error("split", split, f"one of {', '.join(SPLITS)}")
    if not isinstance(n_articles, int) or n_articles < 1:
        raise field_error("n_articles", n_articles, "an integer >= 1")
    if not isinstance(seed, int):
        raise field_error("seed", seed, "an integer")
    pools = name_pools(split)
    rng = Random(f"bert_sweep-synthetic:{split}:{seed}")
    data = []
    for index in range(n_articles):
        era = rng.randint(1820, 1940)
        ctx = _Ctx(Random(rng.getrandbits(64)), pools, era)
        domain = DOMAINS[index % len(DOMAINS)] if index < len(DOMAINS) else rng.choice(DOMAINS)
        data.append(_article(ctx, domain, index, split, seed))
    return {"version": "1.1", "data": data}


def write_squad(path: Path, data: dict) -> Path:
    """Write a SQuAD document as JSON atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise AssetError(f"{path}: refusing to write, expected a SQuAD dict with a 'data' list")
    return write_json_atomic(path, data, indent=None)


def count_questions(data: dict) -> int:
    """Number of questions in a SQuAD document."""
    return sum(len(p["qas"]) for a in data["data"] for p in a["paragraphs"])
