"""Evidence: the units of the routed guides ranked for one question, and how well the best
of them supports it.

Every unit (a prose sentence, list item, table row, career-path line or empty section; see
`chunks.unit_nodes`) of the guides a question was routed to gets these signals, each in 0..1:

- `dense`: cosine of the question (place and role words taken out) and the unit's text;
- `keyword`: the unit's BM25 score over the scope, relative to the best one;
- `coverage`: the share of the question's content words, weighted by their IDF over the
  whole corpus, that the unit or its heading contains (a word no guide uses weighs most);
- `level`: the unit is a table row for a seniority level the question names, and holds one
  of the question's content words too (or the question has none besides the level);
- `heading`: cosine of the question and the unit's section heading;
- `section`: cosine of the question and the unit's whole section (its section chunk);
- `count`: the question asks "how many" and the unit states a number that is not money
  (in the same sentence as what is counted, when the question says what and a guide uses
  that word: "5,000 researchers" is no answer to "how many backend developers");
- `names`: the question asks "who" and the unit is a list of names or one of its items;
- `money`: the question asks for an amount of money and the unit states one;
- `relation`: the question asks how two things compare ("how much cheaper than Brussels?")
  and the unit states a share or a comparison;
- `reason`: the question asks why and the unit is a prose sentence (a table row or a list
  of names gives no reason).

The rank score is a weighted sum of the signals. Whether to answer at all is a second
weighted sum (`support`) over the best unit's dense, section and heading scores, level
match, coverage and form (a count, a list of names, an amount, a comparison or prose for
a "why", when the question asks for one), the coverage of the whole routed guide, how far
the best unit stands out of its guide (`margin`), and the share of the question's words
that no guide uses (`unseen`); the answer abstains under a threshold.

Verification, whatever the weights: evidence near the top must state what the question's
form asks for, or the guide does not say. A "how many X" needs a number (beside X, when
the guide uses that word), "how long" a duration, "how much" an amount of money (a
country-wide "what do they earn?" whose sentences about the country name no figure is
not answered), "when" a year, month, clock time or duration, and a "day rate" or "hourly"
amount one stated per day or per hour ("the guide gives salaries gross per year, not day
rates"), and a comparison asked as a figure ("how much more…?", "what percentage…?") a
share, or an amount or number where the question allows one. A name the question asks
about (a word the guide only ever writes with a capital: "Telenet", "Euroclear") must be
named in the best unit's section: a pay table that names no employer does not say what
Telenet pays.

Both weight vectors and the threshold are fitted on the dev split by `eval/calibrate.py`
and read from `calibration.json` beside this file: no list of topics or subjects decides
anything here.

This module ranks; it does not compose sentences (`answer.py`) or choose guides.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from llama_index.core.schema import TextNode

from .understand import Form
from .vocab import level_of_label, normalize, words

CALIBRATION = Path(__file__).with_name("calibration.json")
RANK_SIGNALS = ("dense", "keyword", "coverage", "level", "heading", "section", "count", "names",
                "money", "relation", "reason")
SUPPORT_SIGNALS = ("dense", "section", "heading", "coverage", "section_coverage",
                   "guide_coverage", "level", "form", "margin", "unseen")


@dataclass(frozen=True)
class Calibration:
    rank: dict[str, float]
    support: dict[str, float]
    threshold: float

    @classmethod
    def load(cls, path: Path = CALIBRATION) -> Calibration:
        data = json.loads(path.read_text())
        return cls(data["rank"], data["support"], float(data["threshold"]))


@lru_cache(maxsize=4)
def default_calibration(path: Path = CALIBRATION) -> Calibration:
    return Calibration.load(path)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    try:
        import Stemmer  # PyStemmer, which bm25s (llama-index's BM25) already brings

        return Stemmer.Stemmer("english")
    except ImportError:  # pragma: no cover - bm25s depends on it
        return None


@lru_cache(maxsize=65536)
def full_stem(word: str) -> str:
    """The whole stem: what is counted must match exactly ("employees" is not "employers",
    which `stem`'s six letters conflate)."""
    stemmer = _stemmer()
    return stemmer.stemWord(word) if stemmer else word


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    # Dutch and French plurals and accents reach the same stem as their English cousins
    # often enough ("universiteiten", "entreprises"); a six-letter prefix is the fallback.
    return full_stem(word)[:6]


def stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


def domain_stems(guides: list) -> frozenset[str]:
    """Stems that at least half of the guides use in their title and opening section: the
    site's own vocabulary ("recruiting", "hiring"), found in the corpus, not listed."""
    counts: Counter[str] = Counter()
    for guide in guides:
        opening = " ".join(s.text for s in guide.sections[:1])
        counts.update(stems(f"{guide.title} {opening}"))
    return frozenset(w for w, n in counts.items() if n >= max(1, math.ceil(len(guides) / 2)))


class TermWeights:
    """IDF of word stems over every unit of the indexed guides."""

    def __init__(self, texts: list[str]) -> None:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(stems(text))
        self.documents = max(1, len(texts))
        self._df = counts
        self.unseen = math.log(1 + self.documents)  # a word no guide uses

    def idf(self, stemmed: str) -> float:
        df = self._df.get(stemmed, 0)
        return math.log(1 + self.documents / (df + 0.5)) if df else self.unseen

    def unseen_share(self, terms: tuple[str, ...]) -> float:
        """The IDF-weighted share of `terms` that no guide uses at all."""
        return 1.0 - self.coverage(terms, set(self._df)) if terms else 0.0

    def coverage(self, terms: tuple[str, ...], found: set[str] | frozenset[str]) -> float:
        return self.weighed(terms).coverage(found)

    def weighed(self, terms: tuple[str, ...]) -> WeighedTerms:
        """`terms` stemmed with their IDF, once for a question's many units."""
        wanted = {stem(t) for t in terms}
        return WeighedTerms(tuple((s, self.idf(s)) for s in wanted))


@dataclass(frozen=True)
class WeighedTerms:
    weighed: tuple[tuple[str, float], ...]

    def coverage(self, found: set[str] | frozenset[str]) -> float:
        """The IDF-weighted share of the terms that `found` holds."""
        total = sum(idf for _s, idf in self.weighed)
        return sum(idf for s, idf in self.weighed if s in found) / total if total else 0.0


@dataclass
class Scored:
    node: TextNode
    signals: dict[str, float]
    score: float = 0.0

    @property
    def meta(self) -> dict:
        return self.node.metadata

    @property
    def block(self) -> str:
        return self.meta["block"]

    @property
    def guide(self) -> str:
        return self.meta["guide"]

    @property
    def section(self) -> str:
        return self.meta["section"]


@dataclass
class Ranking:
    """The units of a scope, best first, and the support for answering from them."""

    units: list[Scored]
    support: float
    signals: dict[str, float] = field(default_factory=dict)  # what support was computed from
    unnamed: tuple[str, ...] = ()  # names the question asks about that the evidence lacks

    @property
    def best(self) -> Scored | None:
        return self.units[0] if self.units else None


# A number that counts something: not an amount of money, a percentage or a year.
COUNTED = re.compile(r"(?<![€$£\d.,])\b(?!(?:19|20)\d\d\b)\d[\d,.]*\b(?!\s*(?:%|k\b|€))"
                     # "two or three office days" states a count as well as "2-3" does ("one"
                     # is left out: "one of the largest employers" counts nothing).
                     r"|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|"
                     r"twenty|thirty|forty|fifty|hundreds?|thousands?|twee|drie|vier|vijf|zes|"
                     r"zeven|acht|negen|tien|twaalf|honderden|duizenden|deux|trois|quatre|cinq|"
                     r"sept|huit|neuf|dix|douze|vingt|trente|centaines|milliers)\b",
                     re.IGNORECASE)
# A length of time: "8 weeks", "3.8 years", "two to three months".
DURATION = re.compile(r"\b(?:\d[\d.,]*|two|three|four|five|six|seven|eight|nine|ten|"
                      r"twelve|a few|several)\s*(?:(?:-|–|to|or)\s*\S+\s*)?"
                      r"(?:days?|weeks?|months?|years?|dagen|weken|maanden|jaar|jours|semaines|"
                      r"mois|ans)\b", re.IGNORECASE)
# A sentence that states how two things compare: a share, or "than"/"compared with".
RELATION = re.compile(r"\d\s?%|\b(?:than|compared (?:to|with)|relative to)\b", re.IGNORECASE)
VERIFIED_TOP, VERIFIED_SHARE = 5, 0.8  # where a number or duration asked for is sought
# A time or date: a year, a month, a clock time (or a duration, "2 to 3 months after…").
DATED = re.compile(r"\b(?:1[89]|20)\d\d\b|\b\d{1,2}[:h]\d\d\b|\b(?:january|february|march|april|"
                   r"may(?= \d)|june|july|august|september|october|november|december|monday|tuesday|"
                   r"wednesday|thursday|friday|saturday|sunday)\b", re.IGNORECASE)
# An amount stated per day or per hour ("€8 per working day", "€550 a day").
PER_DAY = re.compile(r"\b(?:per (?:working )?day|a day|daily|/ ?day|par jour|per dag)\b", re.IGNORECASE)
PER_HOUR = re.compile(r"\b(?:per hour|an hour|hourly|/ ?h(?:ou)?r|par heure|per uur)\b", re.IGNORECASE)
SHARE = re.compile(r"\d\s?%|\b(?:percent|per cent|procent|pour ?cent|half|a third|two thirds|"
                   r"a quarter|majority|(?:one|two|three) in (?:two|three|four|five|ten))\b",
                   re.IGNORECASE)
MONEY = re.compile(r"[€$£]\s?\d|\d\s?(?:€|eur\b|euro)", re.IGNORECASE)
_STEMS: dict[str, frozenset[str]] = {}


def _cached_stems(key: str, text: str, stemmer: Any = None) -> frozenset[str]:
    found = _STEMS.get(key)
    if found is None:
        if len(_STEMS) > 500_000:
            _STEMS.clear()
        found = _STEMS[key] = frozenset(
            stems(text) if stemmer is None else {stemmer(w) for w in words(text)})
    return found


# ".NET" keeps its dot: it is not the word "net" ("is that gross or net?").
CASED_WORD = re.compile(r"(?<![A-Za-z0-9])\.?[A-Za-z0-9]+(?:[.'][A-Za-z0-9]+)*")
_CASED: dict[str, tuple[frozenset[str], frozenset[str]]] = {}


def cased_words(node: TextNode) -> tuple[frozenset[str], frozenset[str]]:
    """The words of a unit's quote written with a capital ("Telenet", "AWS") and those
    written in lower case, normalised: a word a guide only ever capitalises is a name."""
    key = node.metadata["digest"]
    found = _CASED.get(key)
    if found is None:
        if len(_CASED) > 500_000:
            _CASED.clear()
        folded = "".join(ch for ch in unicodedata.normalize("NFKD", node.metadata["quote"])
                         if not unicodedata.combining(ch))
        tokens = CASED_WORD.findall(re.sub(r"[-_/’']", " ", folded))
        found = _CASED[key] = (frozenset(t.lower() for t in tokens if t[0].isupper()),
                               frozenset(t for t in tokens if not t[0].isupper()))
    return found


def names_in(terms: tuple[str, ...], units: list[TextNode]) -> tuple[str, ...]:
    """The `terms` the units name: words they only ever write with a capital, or that make
    a whole item of a list ("imec" in a list of employers)."""
    cased = [cased_words(node) for node in units]
    items = {normalize(node.metadata["quote"]) for node in units
             if node.metadata.get("block") == "item"}
    return tuple(t for t in terms if t in items or (any(t in upper for upper, _ in cased)
                                                    and not any(t in lower for _, lower in cased)))


def unit_stems(node: TextNode) -> frozenset[str]:
    """The stems of a unit's text and heading, computed once per unit. Keyed by the unit's
    digest (its text and metadata), not its id: two corpora may share a guide's file name."""
    return _cached_stems(node.metadata["digest"], f"{node.text} {node.metadata['section']}")


def quote_stems(node: TextNode) -> frozenset[str]:
    """The stems of a unit's quote as the guide writes it (role and place words included)."""
    return _cached_stems("quote:" + node.metadata["digest"], node.metadata["quote"])


def counted_stems(node: TextNode) -> frozenset[str]:
    """The whole stems of a unit's quote, for matching what a count counts."""
    return _cached_stems("count:" + node.metadata["digest"], node.metadata["quote"], full_stem)


@dataclass(frozen=True)
class UnitFacts:
    """What a unit's own text states, whatever the question: read once per unit."""

    money: bool
    counted: bool
    relation: bool
    duration: bool
    levels: frozenset[str]  # the seniority levels a table row or table is labelled with
    dated: bool  # states a time or date (a year, a month, a clock time, a duration)
    per: frozenset[str]  # "day", "hour": an amount stated per day or per hour
    share: bool  # states a share ("21%", "35 procent")


_FACTS: dict[str, UnitFacts] = {}


def unit_facts(node: TextNode) -> UnitFacts:
    meta = node.metadata
    found = _FACTS.get(meta["digest"])
    if found is None:
        if len(_FACTS) > 500_000:
            _FACTS.clear()
        quote = meta["quote"]
        levels: frozenset[str] = frozenset()
        if meta["block"] in ("row", "table"):
            labels = [line.strip().strip("|").split("|")[0] for line in quote.splitlines()]
            levels = frozenset(level for label in labels for level in level_of_label(label))
        found = _FACTS[meta["digest"]] = UnitFacts(
            bool(MONEY.search(quote)), bool(COUNTED.search(quote)), bool(RELATION.search(quote)),
            bool(DURATION.search(quote)), levels,
            bool(DURATION.search(quote) or DATED.search(quote)),
            frozenset(per for per, pattern in (("day", PER_DAY), ("hour", PER_HOUR))
                      if MONEY.search(quote) and pattern.search(quote)),
            bool(SHARE.search(quote)))
    return found


def _above_median(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    ordered = sorted(scores.values())
    middle = ordered[len(ordered) // 2]
    return {key: max(0.0, value - middle) for key, value in scores.items()}


def rank_units(units: list[TextNode], dense: dict[str, float], keyword: dict[str, float],
               terms: tuple[str, ...], levels: tuple[str, ...], weights: TermWeights,
               calibration: Calibration, headings: dict[str, float] | None = None,
               sections: dict[str, float] | None = None, form: Form | None = None,
               names: tuple[str, ...] = (), compared: tuple[str, ...] = ()) -> Ranking:
    """Score `units` (one scope's) with the signals above; best first. `names` are the
    question's words that the guide names (`names_in`): the best unit's section must name
    them too ("what does Telenet pay?" is not answered by a pay table that names no one).
    `compared` are the places the question compares with that the guide names: evidence
    naming them goes first ("cheaper than Brussels?")."""
    form = form or Form()
    if not units:
        return Ranking([], 0.0)
    wanted = {full_stem(w) for w in form.counted}
    if wanted:  # only words this guide uses can be checked: "softwarebedrijven" is not read
        wanted &= {found for node in units for found in counted_stems(node)}
    top_keyword = max(keyword.values(), default=0.0) or 1.0
    # Heading and section cosines above the guide's median: every heading is somewhat like
    # every question, and a bare "About" (its role words taken out) like none.
    headings = _above_median(headings or {})
    sections = _above_median(sections or {})
    scored: list[Scored] = []
    found_anywhere: set[str] = set()
    asked_amount = {stem(w) for w in form.amount_words} if form.amount else set()
    asked_levels = set(levels)
    weighed = weights.weighed(terms)
    # In the signals' own order, so the sum adds up as it always has (ties stay ties).
    rank_weights = [(name, calibration.rank[name]) for name in RANK_SIGNALS
                    if calibration.rank.get(name)]
    for node in units:
        meta = node.metadata
        facts = unit_facts(node)
        found = unit_stems(node)
        if asked_amount and facts.money:
            # "What do they make?": an amount is what "make" asks for, so it counts as found.
            found = found | asked_amount
        found_anywhere |= found
        coverage = weighed.coverage(found)
        signals = {
            "dense": max(0.0, dense.get(node.node_id, 0.0)),
            "keyword": keyword.get(node.node_id, 0.0) / top_keyword,
            "coverage": coverage,
            # The level's row, when the row holds something else the question asks too:
            # "where do juniors come from?" is not asking for the junior pay row.
            "level": 1.0 if asked_levels & facts.levels
            and (coverage > 0 or not weighed.weighed) else 0.0,
            # An empty section's unit is its heading already: counting it twice would
            # make every empty section outrank the prose that answers.
            "heading": 0.0 if meta["block"] == "empty"
            else headings.get(meta["section"], 0.0),
            "section": sections.get(meta["section"], 0.0),
            "count": 1.0 if form.count and facts.counted
            and (not wanted or bool(wanted & counted_stems(node))) else 0.0,
            "names": 1.0 if form.who and meta["block"] in ("item", "list") else 0.0,
            "money": 1.0 if form.amount and facts.money else 0.0,
            "relation": 1.0 if form.relation and facts.relation else 0.0,
            "reason": 1.0 if form.reason and meta["block"] == "sentence" else 0.0,
        }
        score = sum(weight * signals.get(name, 0.0) for name, weight in rank_weights)
        scored.append(Scored(node, signals, score))
    scored.sort(key=lambda s: (-s.score, s.meta["order"], s.meta["position"]))
    # Verification, not ranking: "how many X" is answered by a number, "how long" by a
    # duration, "how much" by an amount (unless it asks why), "when" by a time or date. The
    # best of the top units that states one goes first; when none does, the guide does not
    # say (below), whatever else the evidence shares with the question.
    # A place the question compares with ("cheaper than in Brussels?") is named by the
    # evidence that compares with it.
    section_stems: dict[str, set[str]] = {}

    def stems_of_section(section: str) -> set[str]:  # read only for the sections checked
        found = section_stems.get(section)
        if found is None:
            found = section_stems[section] = set().union(
                *(unit_stems(u.node) for u in scored if u.section == section))
        return found

    compared_stems = {stem(place) for place in compared}

    def states(unit: Scored) -> bool:
        facts = unit_facts(unit.node)
        return ((not compared_stems or compared_stems <= stems_of_section(unit.section))
                and (not form.counted or bool(unit.signals["count"]))
                and (not form.duration or facts.duration)
                and (not form.amount or form.reason or facts.money)
                and (not form.when or facts.dated)
                and (not form.per or form.per in facts.per)
                and (not form.figure or facts.share
                     or (form.figure != "share" and facts.money)
                     or (form.figure == "number" and (facts.counted or facts.duration))))

    # Only near the top, and holding as much of the question as the best unit: a number
    # further down, or beside fewer of the question's words, is about something else.
    # A comparison's figure may sit in the sentence beside the one holding most of the
    # question ("turnover is lower… compared with", then "salaries run 14% lower than…").
    near = [u for u in scored[:VERIFIED_TOP] if u.score >= VERIFIED_SHARE * scored[0].score
            and (u.signals["coverage"] >= scored[0].signals["coverage"]
                 or (form.figure and u.section == scored[0].section))]
    unstated = not any(states(u) for u in near)
    if not unstated and not states(scored[0]):
        first = next(u for u in near if states(u))
        scored.remove(first)
        scored.insert(0, first)
    if (form.amount and not form.reason and scored[0].block == "sentence"
            and unit_facts(scored[0].node).money):
        # An amount asked for, and prose states one ("from €37k to €88k"): a pay table near
        # the top states it exactly, level by level, so it answers first. Not for "why are
        # salaries higher?": the prose gives the reason.
        exact = next((u for u in near if u.block in ("row", "table") and unit_facts(u.node).money),
                     None)
        if exact is not None:
            scored.remove(exact)
            scored.insert(0, exact)
    best = scored[0]
    # What the question asks beyond an amount ("Telenet" in "what does Telenet pay?"), found
    # anywhere in the best unit's section: a pay table answers pay, not pensions or a gap.
    beyond = tuple(t for t in terms if t not in form.amount_words)
    in_section = stems_of_section(best.section)
    support_signals = {
        "dense": best.signals["dense"],
        "section_coverage": weights.coverage(beyond, in_section) if beyond else 1.0,
        "section": best.signals["section"],
        "heading": best.signals["heading"],
        "coverage": max((s.signals["coverage"] for s in scored[:3]), default=0.0),
        "guide_coverage": weights.coverage(terms, found_anywhere),
        "level": best.signals["level"],
        # The evidence has the form the question asks for: a count, names, an amount, a
        # comparison, prose for a reason.
        "form": max(best.signals["count"], best.signals["names"], best.signals["money"],
                    best.signals["relation"], best.signals["reason"]),
        # How far the best unit stands out of its guide: an off-topic question is about as
        # far from every unit.
        "margin": best.signals["dense"] - sorted(u.signals["dense"] for u in scored)[len(scored) // 2],
        "unseen": weights.unseen_share(terms),
    }
    support = calibration.support.get("bias", 0.0) + sum(
        calibration.support.get(name, 0.0) * value for name, value in support_signals.items())
    if unstated and form.per:
        support_signals["unstated_per"] = 1.0  # answer.py names the period the guide has
    unnamed = [n for n in names if stem(n) not in in_section]
    if unnamed:
        support_signals["unnamed"] = 1.0
    if unstated or unnamed or (wanted and not any(s.signals["count"] for s in scored)):
        support_signals["unstated_count"] = 1.0
        support = min(support, calibration.threshold - 1.0)
    return Ranking(scored, support, support_signals, tuple(unnamed))


def speaks_of_country(text: str, country: tuple[str, ...], city: str | None) -> bool:
    """Whether `text` says something of the country (`country`: its names), not merely
    where its city lies: "hiring in Leuven, Belgium" locates Leuven and says nothing of
    Belgium as a whole; "the most sought-after profiles in Belgium" does."""
    tokens = words(normalize(text))
    located = words(normalize(city)) if city else []
    span = len(located)
    return any(token in country and not (span and tokens[max(0, at - span):at] == located)
               for at, token in enumerate(tokens))
