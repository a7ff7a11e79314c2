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

import re
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
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


def _words(text: str) -> list[str]:
    """A word list written as running text (keeps the tables compact)."""
    return text.split()


def _phrases(text: str) -> list[str]:
    """A phrase list written as comma-separated text."""
    return [p.strip() for p in text.split(",")]


# -- atomic name material (split between train and dev by hash) -----------------------------
_FIRST_NAMES = _words(
    """
Aaron Abigail Adele Adrian Agnes Aiden Alba Albert Alec Alice Alma Amara Amir Anders Andrea Anika
Anton Arlo Arne Astrid Aurora Axel Basil Beatrix Benedict Bianca Boris Bruno Camille Carmen Caspar
Cecil Celeste Clara Conrad Cora Dalia Damon Daria Dashiell Delia Dmitri Dora Edgar Edith Elias Elin
Eliza Elmer Emil Enzo Esme Esther Ezra Fabian Felix Fiona Flora Frida Gareth Gemma Gideon Greta
Gustav Hana Hector Helga Henrik Hugo Ida Ilse Imogen Ines Ingrid Irene Isak Ivan Jasper Joanna
Jonas Josef Judith Julian Juno Karin Kasimir Keira Kenji Klara Lars Laszlo Leander Leona Liesel
Linus Livia Lorenzo Lucia Ludwig Magnus Maia Malik Marek Margit Marius Matilda Maxim Milan Mira
Nadia Naomi Nikolai Nils Noor Odile Olaf Olga Oren Orla Oskar Otto Paloma Pavel Petra Philippa
Quentin Rafael Ramona Rasmus Reza Rhea Rosalind Rufus Ruth Sabine Samir Selma Silas Simone Sofia
Stellan Sven Tamsin Tariq Thea Theodor Tobias Ulla Ursula Valentin Vera Viggo Vilma Walter Wilma
Xavier Yara Yusuf Zelda Zora Ansel Bettina Cyrus Dagny Eamon Fenna Gaspard Hilde Ivo Jorun
"""
)

_SURNAMES = _words(
    """
Abbot Achterberg Adler Albrecht Alvarez Amsel Arkwright Bach Baranov Becker Bellamy Bergstrom Blom
Brandt Brennan Calloway Carver Castellan Cerny Clement Dahl Delacroix Devlin Drummond Eckhart
Egerton Engel Falk Farrow Fenwick Fischer Fontaine Forsythe Gallo Garner Gerhardt Gorski Grady
Haas Halloran Hartmann Haverford Hellstrom Holm Hughes Ibsen Ingram Iversen Jansen Jelinek Kade
Kappel Keller Kessler Kowalski Krause Lachance Lambert Larkin Lindqvist Lorne Lovell Lund Maddox
Marchetti Mercer Moreau Mortensen Nagy Navarro Nyberg Oakes Olsen Ortega Osterman Pallas Pereira
Petrov Pike Quint Radcliffe Ravel Reyes Rinaldi Rowe Ruiz Sandoval Schreiber Sevigny Sorensen
Stanek Stroud Sutter Tanaka Thorne Toivonen Torres Ulrich Vance Varga Vasquez Vogel Wakefield
Waller Weber Whitlock Winther Wolff Yates Young Zeller Zimmer Abernathy Brisco Corvin Dunmore
Everly Fairbanks Gilchrist Hollis Jessup Kilbride Lockhart Merriweather Norcross Pemberton
Quarry Rainsford Sterling Thistle Underhill Vandermeer Wexley Yardley Ashcombe Blackwood Crane
"""
)

_PLACE_STEMS = _words(
    """
Ash Bel Brack Cal Carr Dun Elm Fal Fern Gal Glen Hal Hart Holl Kel Kes Lor Lyn Mar Mell Nor Oak
Orm Pel Pen Quar Rav Ros Sal Sel Tam Thorn Tor Ul Val Var Wes Wick Wyn Yar Zan Alder Bram Cor Dray
"""
)
_PLACE_ENDINGS = _words(
    """
bridge bury dale ford gate haven holm ley mere mont mouth more port ridge stead ton vale wick
ora ania eno isca una
"""
)

_BRAND_HEADS = _words(
    """
Ax Bri Cor Dex Ely Fen Gry Hel Io Jax Kyr Lum Myr Nex Ory Pax Quo Ryl Syn Tav Ulm Vel Wyx Xan Zep
Alt Bov Cyr Dov Evo
"""
)
_BRAND_TAILS = _words("ara eon ica ido ion ira ix ova rel rix tane tro vos yra ium")

# -- shared vocabulary (not names: the same in both splits) ----------------------------------
_SECTORS = _words(
    "Logistics Dynamics Foods Textiles Pharmaceuticals Media Motors Energy Systems Holdings "
    "Airlines Insurance Steelworks Robotics Optics Ceramics Shipping Software"
)
_MASCOTS = _words(
    "Falcons Rovers Wanderers Harriers Otters Comets Miners Mariners Wolves Stags Herons "
    "Foxes Pioneers Lancers Badgers Ravens"
)
_EVENT_KINDS = _phrases(
    "Lantern Festival, Jazz Festival, Marathon, Film Festival, Book Fair, Chess Open, Science "
    "Congress, Regatta, Harvest Fair, Piano Competition, Cycling Classic, Folk Music Week"
)
_BUILDING_KINDS = _phrases(
    "Tower, Opera House, Library, Concert Hall, Observatory, Exchange Building, Cathedral, Museum "
    "of Art, Bridge, Lighthouse"
)
_MODEL_WORDS = _words(
    "Aero Arc Tern Pulse Vista Nova Drift Summit Echo Vector Halo Orbit Quill Ridge Spark Atlas"
)
_FIELDS = _phrases(
    "marine biology, medieval history, electrical engineering, political economy, organic "
    "chemistry, comparative literature, civil engineering, classical music, plant genetics, "
    "applied mathematics, industrial design, public health, structural geology, modern languages, "
    "veterinary medicine, naval architecture, social anthropology, theoretical physics, landscape "
    "architecture, moral philosophy, computer science, art history, soil science, international "
    "law"
)
_ROLES = _phrases(
    "chief engineer, head of research, lead designer, finance director, chief economist, senior "
    "legal counsel, operations manager, head of marketing, technical director, chief archivist, "
    "production manager, head of sales, senior analyst, chief scientist, editor in chief, head of "
    "logistics"
)
_INDUSTRIES = _phrases(
    "industrial refrigeration, cargo shipping, frozen foods, medical imaging, solar panels, "
    "railway signalling, agricultural machinery, children's books, wind turbines, water "
    "purification, luxury watches, commercial printing, hearing aids, office furniture, satellite "
    "navigation, organic fertiliser"
)
_KNOWN_FOR = _phrases(
    "its copper mines, its glass-blowing workshops, an annual kite festival, its covered market, "
    "its medieval city walls, its thermal springs, its shipyards, a large botanical garden, its "
    "clock museum, its salt marshes, its stone bridges, its cherry orchards, its puppet theatre, "
    "its lace makers, a famous horse fair, its cliffside monastery"
)
_COLOURS = _words("red green blue white black yellow orange purple gold silver maroon navy")
_TITLE_ADJ = _words(
    "Silent Hidden Northern Broken Golden Distant Quiet Restless Forgotten Burning Narrow Winter "
    "Crimson Patient Hollow Endless"
)
_TITLE_NOUNS = _words(
    "Harbour Garden Archive River Lantern Orchard Compass Tide Mirror Meadow Frontier Letter "
    "Bell Harvest Island Station"
)
_MONTHS = _words(
    "January February March April May June July August September October November December"
)
_RELATIONS_PERSON = ["classmate", "colleague", "rival", "neighbour", "cousin", "friend"]


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


# Template tables, one line each (kept as text so the module stays readable):
#   @ relation slot:generator ...   a kind of fact; generators are the keys of _GEN
#   = statement                     how the fact is stated ({s} = subject, {slot} = value)
#   ? slot | question               one phrasing of a question whose answer is that slot
#   + intro                         a sentence linking a distractor {d} (same type) to {s}
#   +? question                     a question whose answer is that distractor
#   ~ filler                        a sentence with no answer ({person} {place} {year} {count})
_PERSON_TEXT = """
@ born place:place year:byear
= {s} was born in {place} in {year}.
= {s} was born in {year} in the town of {place}.
= Born in {place} in {year}, {s} grew up in a family of farmers.
= Parish records from {place} show that {s} was born there in {year}.
? place | Where was {s} born?
? place | What is the birthplace of {s}?
? place | In which town did {s} come into the world?
? place | {s} was born in which town?
? place | Which town is the home town of {s}?
? year | In what year was {s} born?
? year | When was {s} born?
? year | What is the birth year of {s}?
? year | {s} came into the world in which year?
@ studied field:field university:university year:year
= {s} studied {field} at {university}, graduating in {year}.
= At {university}, {s} earned a degree in {field} in {year}.
= In {year}, {s} graduated from {university} with a degree in {field}.
= {s} completed a course in {field} at {university} in {year}.
? field | What subject did {s} study?
? field | What did {s} major in?
? field | In which discipline did {s} earn a degree?
? field | What was the degree of {s} in?
? university | Which university did {s} attend?
? university | At which institution did {s} study {field}?
? university | From which university did {s} graduate?
? university | Where did {s} earn a degree in {field}?
? year | When did {s} graduate?
? year | In what year did {s} finish university?
? year | What year did {s} complete the degree in {field}?
@ joined company:company role:role date:date
= {s} joined {company} on {date} as {role}.
= On {date}, {company} hired {s} as {role}.
= {s} began working for {company} on {date}, taking the post of {role}.
? company | Which company hired {s}?
? company | For which firm did {s} start working?
? company | What company did {s} join?
? company | Who employed {s} as {role}?
? role | What position did {s} hold at {company}?
? role | What was the job title of {s} at {company}?
? role | In what role was {s} hired?
? date | When did {s} join {company}?
? date | On what date did {s} start at {company}?
? date | What was the first working day of {s} at {company}?
@ mentor person:person
= {s} worked closely with {person}, who became a lifelong mentor.
= Much of the early training of {s} came from {person}.
= {person} acted as mentor to {s} during these years.
? person | Who mentored {s}?
? person | Who was the mentor of {s}?
? person | Who guided the early training of {s}?
@ award award:award year:year
= In {year}, {s} received the {award}.
= {s} was awarded the {award} in {year}.
= The {award} went to {s} in {year}.
? award | What award did {s} receive?
? award | Which honour was given to {s} in {year}?
? award | What prize did {s} win?
? year | When did {s} receive the {award}?
? year | In which year was {s} awarded the {award}?
? year | What year did {s} win the {award}?
@ book title:title copies:copies
= {s} wrote {title}, which sold {copies}.
= The best-known book by {s}, {title}, sold {copies}.
= {title}, a book by {s}, sold more than {copies}.
? title | What is the name of the book written by {s}?
? title | Which book did {s} write?
? title | What is the best-known book of {s}?
? copies | How many copies did {title} sell?
? copies | How many copies of the book by {s} were sold?
? copies | How well did {title} sell?
@ spouse person:person place:place
= {s} married {person} in {place}.
= In {place}, {s} wed {person}.
= {s} and {person} were married at a small ceremony in {place}.
? person | Who did {s} marry?
? person | Who was the spouse of {s}?
? person | To whom was {s} married?
? place | Where did {s} get married?
? place | In which town did the wedding of {s} take place?
? place | Where did {s} marry {person}?
@ moved place:place date:date
= On {date}, {s} moved to {place}.
= {s} relocated to {place} on {date}.
= {s} settled in {place}, arriving there on {date}.
? place | Where did {s} move?
? place | To which city did {s} relocate?
? place | Where did {s} settle?
? date | When did {s} move to {place}?
? date | On what date did {s} arrive in {place}?
? date | When did {s} relocate?
@ died year:dyear age:age
= {s} died in {year} at the age of {age}.
= {s} passed away in {year}, aged {age}.
= In {year}, {s} died at {age} after a short illness.
? year | When did {s} die?
? year | In which year did {s} pass away?
? year | What year did {s} die?
? age | How old was {s} at death?
? age | At what age did {s} die?
? age | How old was {s} when passing away?
@ salary money:money
= {s} earned an annual salary of {money}.
= At the height of the career of {s}, the yearly pay reached {money}.
? money | What salary did {s} earn?
? money | How much was {s} paid each year?
? money | What was the yearly pay of {s}?
+ {d} was a {rel} of {s}.
+? Who was a {rel} of {s}?
+? Which {rel} of {s} is mentioned?
+ {s} often met {d}, a {rel}.
+? Which {rel} did {s} often meet?
~ {s} rarely spoke about this period in interviews.
~ Letters written by {s} at the time are kept in a private collection.
~ A biography of {s} by {person} appeared many years later.
~ Friends described {s} as patient and unusually curious.
~ {s} spent several summers walking in the hills near {place}.
~ Some {count} pages of notes by {s} survive.
~ A portrait of {s} was painted in {year} by {person}.
~ {s} kept a detailed diary for most of this time.
~ Contemporaries noted the dry humour of {s}.
"""

_COMPANY_TEXT = """
@ founded year:byear person:person place:place
= {s} was founded in {year} by {person} in {place}.
= {person} started {s} in {place} in {year}.
= In {year}, {person} established {s} in the city of {place}.
? year | When was {s} founded?
? year | In what year was {s} established?
? year | What year did {person} start {s}?
? person | Who founded {s}?
? person | Who started {s}?
? person | Who is the founder of {s}?
? place | Where was {s} founded?
? place | In which city was {s} established?
? place | Where did {person} start {s}?
@ headquarters place:place
= {s} is headquartered in {place}.
= The head office of {s} is in {place}.
= {s} has its headquarters in {place}.
? place | Where is {s} headquartered?
? place | In which city is the head office of {s}?
? place | Where are the headquarters of {s} located?
@ employees count:count
= {s} employs {count} people.
= {s} has a workforce of {count}.
= Around {count} people work for {s}.
? count | How many people does {s} employ?
? count | How large is the workforce of {s}?
? count | How many employees does {s} have?
@ ceo person:person year:year
= {person} has been chief executive of {s} since {year}.
= Since {year}, {s} has been led by chief executive {person}.
= {s} appointed {person} as its chief executive in {year}.
? person | Who is the chief executive of {s}?
? person | Who leads {s}?
? person | Who is the CEO of {s}?
? year | Since when has {person} led {s}?
? year | In what year did {person} become chief executive of {s}?
? year | When did {s} appoint its current chief executive?
@ revenue money:money year:year
= In {year}, {s} reported revenue of {money}.
= {s} had revenues of {money} in {year}.
= Sales at {s} reached {money} in {year}.
? money | What revenue did {s} report in {year}?
? money | How much revenue did {s} have?
? money | How much money did {s} take in during {year}?
? year | In which year did {s} report revenue of {money}?
? year | When did the sales of {s} reach {money}?
@ acquired company:company year:year money:money
= In {year}, {s} bought {company} for {money}.
= {s} acquired {company} in {year}, paying {money}.
= The purchase of {company} by {s} in {year} cost {money}.
? company | Which company did {s} acquire?
? company | What firm did {s} buy?
? company | Which business was bought by {s} in {year}?
? year | When did {s} acquire {company}?
? year | In what year did {s} buy {company}?
? money | How much did {s} pay for {company}?
? money | What was the price of {company}?
? money | For how much was {company} bought?
@ product product:product
= The best-selling product of {s} is the {product}.
= {s} is best known for the {product}.
= Most of the profit of {s} comes from the {product}.
? product | What is the best-selling product of {s}?
? product | Which product is {s} best known for?
? product | Which product earns {s} the most?
@ listing date:date
= {s} listed its shares on the stock exchange on {date}.
= On {date}, shares of {s} began trading publicly.
? date | When did {s} go public?
? date | On what date was {s} listed on the stock exchange?
? date | When did shares of {s} start trading?
@ industry industry:industry
= {s} specialises in {industry}.
= The main business of {s} is {industry}.
= {s} makes its money from {industry}.
? industry | What does {s} specialise in?
? industry | What is the main business of {s}?
? industry | In what line of business is {s}?
+ {d} is one of the main competitors of {s}.
+? Which company competes with {s}?
+ {s} and {d} have long been rivals.
+? Which firm is a long-time rival of {s}?
~ Analysts regard {s} as a cautious but steady business.
~ {s} publishes a detailed report every spring.
~ A strike at a plant near {place} disrupted production for a while.
~ {s} sponsors several local schools and sports clubs.
~ Trade journals profiled {s} in {year}.
~ About {count} customers took part in a survey run by {s}.
~ The company archive holds records going back many decades.
~ {person}, a financial journalist, has written often about {s}.
"""

_CITY_TEXT = """
@ population count:count year:year
= {s} had a population of {count} at the {year} census.
= At the census of {year}, {count} people lived in {s}.
= The {year} census counted {count} inhabitants in {s}.
? count | What is the population of {s}?
? count | How many people live in {s}?
? count | How many inhabitants did {s} have in {year}?
? year | When was the census of {s} taken?
? year | In which year were {count} people counted in {s}?
@ region region:region distance:distance
= {s} lies in the province of {region}, {distance} from the capital.
= {s} is located in {region}, about {distance} from the national capital.
= Part of the province of {region}, {s} is {distance} away from the capital.
? region | In which province is {s} located?
? region | Which region is {s} part of?
? region | What province does {s} belong to?
? distance | How far is {s} from the capital?
? distance | What is the distance between {s} and the capital?
? distance | How many kilometres separate {s} from the capital?
@ mayor person:person year:year
= {person} was elected mayor of {s} in {year}.
= {s} has been governed since {year} by mayor {person}.
= In {year}, voters in {s} chose {person} as mayor.
? person | Who is the mayor of {s}?
? person | Who governs {s}?
? person | Who did voters in {s} choose as mayor?
? year | When was {person} elected mayor?
? year | Since when has {person} been mayor of {s}?
@ founded year:byear person:person
= {s} was founded in {year} by the merchant {person}.
= The merchant {person} founded {s} in {year}.
= In {year}, a trading post set up by {person} grew into {s}.
? year | When was {s} founded?
? year | In what year did {s} come into being?
? person | Who founded {s}?
? person | Which merchant established {s}?
? person | Who set up the trading post that became {s}?
@ river river:river
= {s} stands on the banks of the {river}.
= The {river} flows through the centre of {s}.
? river | Which river flows through {s}?
? river | On what river does {s} stand?
? river | What river runs through {s}?
@ known known:known
= {s} is famous for {known}.
= Visitors come to {s} mainly for {known}.
= {s} is best known for {known}.
? known | What is {s} famous for?
? known | What is {s} best known for?
? known | What attracts visitors to {s}?
@ area area:area
= {s} covers an area of {area}.
= The municipality of {s} spans {area}.
? area | How large is {s}?
? area | What area does {s} cover?
? area | What is the size of the municipality of {s}?
@ elevation height:height
= {s} sits at an elevation of {height} above sea level.
= The old town of {s} lies {height} above sea level.
? height | How high above sea level is {s}?
? height | What is the elevation of {s}?
? height | At what altitude does {s} lie?
@ university university:university
= {s} is home to {university}.
= {university} has its main campus in {s}.
? university | Which university is located in {s}?
? university | What institution has its main campus in {s}?
+ {d} is the nearest large town to {s}.
+? What is the nearest large town to {s}?
+ {s} is twinned with {d}.
+? Which town is twinned with {s}?
~ The old market square of {s} is lined with narrow houses.
~ Buses connect {s} with {place} several times a day.
~ A fire in {year} destroyed part of the harbour district.
~ Around {count} visitors attend the summer concerts each year.
~ The local museum displays tools used by early settlers.
~ Winters in {s} are long and often very cold.
~ The writer {person} described {s} in a travel book.
~ A railway line to {s} opened in {year}.
"""

_EVENT_TEXT = """
@ first date:date person:person
= {s} was first held on {date}, organised by {person}.
= {person} launched {s}, which opened on {date}.
= On {date}, {person} opened the first edition of {s}.
? date | When was {s} first held?
? date | On what date did the first edition of {s} open?
? date | When did {s} begin?
? person | Who launched {s}?
? person | Who organised the first edition of {s}?
? person | Who is the founder of {s}?
@ venue venue:venue
= {s} takes place every year at {venue}.
= Since its early days, {s} has been held at {venue}.
? venue | Where is {s} held?
? venue | What is the venue of {s}?
? venue | At which site does {s} take place?
@ attendance count:count year:year
= In {year}, {s} drew {count} visitors.
= {count} people attended {s} in {year}.
= Attendance at {s} reached {count} in {year}.
? count | How many visitors did {s} draw in {year}?
? count | How many people attended {s}?
? count | What was the attendance at {s} in {year}?
? year | In which year did {s} draw {count} visitors?
@ organiser organiser:organiser
= {s} is run by {organiser}.
= The organiser of {s} is {organiser}.
= {organiser} manages {s}.
? organiser | Who runs {s}?
? organiser | Which organisation organises {s}?
? organiser | Who manages {s}?
@ winner person:person year:year money:money
= The {year} edition of {s} was won by {person}, who took home {money}.
= {person} won {s} in {year} and received {money}.
? person | Who won {s} in {year}?
? person | Who was the winner of {s} in {year}?
? person | Which person took home the prize at {s}?
? year | In what year did {person} win {s}?
? year | When did {person} win {s}?
? money | How much prize money did {person} receive?
? money | How much did the winner of {s} take home?
@ duration days:days
= {s} lasts {days}.
= Each edition of {s} runs for {days}.
? days | How long does {s} last?
? days | For how long does {s} run?
? days | What is the length of {s}?
@ sponsor company:company
= The main sponsor of {s} is {company}.
= {company} pays for most of {s}.
? company | Who sponsors {s}?
? company | Which company is the main sponsor of {s}?
? company | Which firm pays for {s}?
+ {s} is often compared with the {d}.
+? Which event is often compared with {s}?
+ The {d} takes place in the same month as {s}.
+? Which event shares a month with {s}?
~ Local hotels are usually fully booked during {s}.
~ Volunteers from {place} help to run {s}.
~ Tickets for {s} go on sale in early spring.
~ In {year}, heavy rain forced the organisers to move part of the programme indoors.
~ More than {count} meals are served on the busiest day.
~ The journalist {person} has reviewed {s} for many years.
~ A small exhibition about the history of {s} opens each morning.
"""

_PRODUCT_TEXT = """
@ launched company:company date:date
= {company} launched {s} on {date}.
= {s} was introduced by {company} on {date}.
= On {date}, {company} unveiled {s}.
? company | Which company makes {s}?
? company | Who manufactures {s}?
? company | Which firm introduced {s}?
? date | When was {s} launched?
? date | On what date did {company} unveil {s}?
? date | When did {s} come out?
@ designer person:person
= {s} was designed by {person}.
= The designer of {s} was {person}.
= {person} led the team that designed {s}.
? person | Who designed {s}?
? person | Who is the designer of {s}?
? person | Who led the design of {s}?
@ price price:price
= {s} sold for {price} at launch.
= At launch, {s} cost {price}.
? price | How much did {s} cost?
? price | What was the launch price of {s}?
? price | For how much was {s} sold at first?
@ weight weight:weight
= {s} weighs {weight}.
= With a weight of {weight}, {s} is easy to carry.
? weight | How heavy is {s}?
? weight | What is the weight of {s}?
? weight | How much does {s} weigh?
@ battery hours:hours
= The battery of {s} lasts {hours}.
= {s} runs for {hours} on a single charge.
? hours | How long does the battery of {s} last?
? hours | How long can {s} run on one charge?
@ units count:count
= {count} units of {s} were sold in the first year.
= In its first year, {s} sold {count} units.
? count | How many units of {s} were sold in the first year?
? count | What were the first-year unit sales of {s}?
@ factory place:place
= {s} is assembled at a factory in {place}.
= Production of {s} takes place in {place}.
? place | Where is {s} assembled?
? place | In which town is {s} built?
? place | Where does production of {s} take place?
@ successor product:product year:year
= {s} was replaced by the {product} in {year}.
= In {year}, the {product} succeeded {s}.
? product | What replaced {s}?
? product | Which product succeeded {s}?
? year | When was {s} replaced?
? year | In what year was {s} succeeded?
+ The {d} competes directly with {s}.
+? Which product competes with {s}?
+ Reviewers often compare {s} with the {d}.
+? What is {s} often compared with?
~ Early reviews of {s} praised its sturdy build.
~ A software update for {s} appeared in {year}.
~ Shops in {place} sold out of {s} within days.
~ The reviewer {person} called {s} a careful piece of engineering.
~ Around {count} spare parts are kept in stock for older models.
~ {s} comes in several colours.
"""

_TEAM_TEXT = """
@ founded year:byear person:person
= {s} were founded in {year} by {person}.
= {person} formed {s} in {year}.
= In {year}, a group led by {person} set up {s}.
? year | When were {s} founded?
? year | In what year were {s} formed?
? year | What year did {person} set up {s}?
? person | Who founded {s}?
? person | Who formed {s}?
? person | Who led the group that set up {s}?
@ stadium venue:venue count:count
= {s} play their home games at {venue}, which holds {count} spectators.
= Home matches of {s} take place at {venue}, with room for {count} fans.
? venue | Where do {s} play their home games?
? venue | What is the home ground of {s}?
? venue | At which ground do {s} play at home?
? count | How many spectators does {venue} hold?
? count | What is the capacity of the home ground of {s}?
? count | How many fans fit in {venue}?
@ coach person:person year:year
= {person} has coached {s} since {year}.
= Since {year}, {s} have been coached by {person}.
= {s} appointed {person} as head coach in {year}.
? person | Who coaches {s}?
? person | Who is the head coach of {s}?
? person | Who trains {s}?
? year | Since when has {person} coached {s}?
? year | When did {s} appoint {person}?
@ titles small:small year:year
= {s} have won the national league {small} times, most recently in {year}.
= With {small} league titles, the last in {year}, {s} are a strong side.
? small | How many league titles have {s} won?
? small | How many times have {s} won the national league?
? year | When did {s} last win the league?
? year | In what year did {s} win their most recent title?
@ scorer person:person goals:goals
= {person} is the all-time top scorer of {s} with {goals}.
= With {goals}, {person} holds the scoring record of {s}.
? person | Who is the top scorer of {s}?
? person | Who holds the scoring record of {s}?
? goals | How many goals has {person} scored for {s}?
? goals | How many goals did the record scorer of {s} score?
@ colours colours:colours
= {s} play in {colours}.
= The club colours of {s} are {colours}.
? colours | What colours do {s} wear?
? colours | What are the club colours of {s}?
@ sponsor company:company
= The shirts of {s} carry the name of {company}.
= {company} has sponsored {s} for many seasons.
? company | Which company sponsors {s}?
? company | Whose name is on the shirts of {s}?
+ The fiercest rivals of {s} are the {d}.
+? Who are the main rivals of {s}?
+ The {d} play in the same league as {s}.
+? Which club plays in the same league as {s}?
~ Supporters of {s} are known for their loud singing.
~ The youth academy of {s} trains about {count} players.
~ A new training ground near {place} opened in {year}.
~ The broadcaster {person} has commentated on matches of {s} for years.
~ Season tickets for {s} sell out quickly.
~ The club museum displays old shirts and trophies.
"""

_BUILDING_TEXT = """
@ architect person:person year:year
= {s} was designed by the architect {person} and completed in {year}.
= The architect {person} drew the plans for {s}, which opened in {year}.
= Completed in {year}, {s} is the work of the architect {person}.
? person | Who designed {s}?
? person | Which architect drew the plans for {s}?
? person | Who was the architect of {s}?
? year | When was {s} completed?
? year | In what year did {s} open?
? year | What year was {s} finished?
@ height height:height small:small
= {s} rises {height} and has {small} floors.
= With {small} floors, {s} reaches a height of {height}.
? height | How tall is {s}?
? height | What is the height of {s}?
? height | How high does {s} rise?
? small | How many floors does {s} have?
? small | How many storeys has {s}?
@ cost money:money
= Construction of {s} cost {money}.
= Building {s} cost a total of {money}.
? money | How much did {s} cost to build?
? money | What was the construction cost of {s}?
@ location place:place
= {s} stands in the centre of {place}.
= {s} is located in {place}.
? place | Where is {s}?
? place | In which city does {s} stand?
? place | Where is {s} located?
@ owner company:company year:year
= {company} bought {s} in {year}.
= Since {year}, {s} has belonged to {company}.
? company | Who owns {s}?
? company | Which company bought {s}?
? year | When did {company} buy {s}?
? year | Since when has {company} owned {s}?
@ visitors count:count
= {s} welcomes about {count} visitors a year.
= Each year some {count} people visit {s}.
? count | How many visitors does {s} get each year?
? count | How many people visit {s} annually?
+ The {d} stands a few streets away from {s}.
+? What stands a few streets from {s}?
+ Guides often pair a visit to {s} with the {d}.
+? What is often visited with {s}?
~ The facade of {s} is cleaned every few years.
~ Guided tours of {s} start at the main entrance.
~ In {year}, a storm damaged the roof of {s}.
~ The photographer {person} published a book of pictures of {s}.
~ About {count} lamps light {s} at night.
~ Stone for {s} was brought from quarries near {place}.
"""


def _parse_domain(name: str, subject: Callable[[_Ctx], tuple[str, str]], text: str) -> Domain:
    """Read a domain's template table (format described above `_PERSON_TEXT`)."""
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

_GENERIC_FILLERS = (
    "Historians still debate some of the details.",
    "Newspapers of the time covered these events at length.",
    "Several documents from this period were lost in a flood in {year}.",
    "A local society in {place} keeps an archive of photographs.",
    "The story was later retold in a radio programme.",
    "Some of these records were digitised by volunteers.",
    "A guidebook published in {year} mentions this only briefly.",
    "Roughly {count} letters about these matters were exchanged.",
    "The researcher {person} has collected many of the surviving accounts.",
    "Accounts from different witnesses do not always agree.",
)


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
