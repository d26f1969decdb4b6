"""The answer object (DESIGN §2) and how it is composed from the evidence of routed guides.

An answer is rendered by the kind of its best piece of evidence (`evidence.py`), never by a
topic read off the question's words:
- a salary-table row: the table's exact rows, filtered by the levels the question names;
- a list item or career-path line: the section's list, as the guide writes it;
- a prose sentence: that sentence and, when it scores almost as well, one more of the same
  section, whole;
- an empty section: "the guide lists none", as a refusal citing that section.
When the evidence does not support the question (its calibrated `support` is under the
threshold) the answer abstains and names the guide's closest section instead. Every
non-abstained answer cites the lines it used, so every number in it can be found in a cited
`quote`. No generative model is used here; there is nothing that could invent a number.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from .catalogue import Catalogue, Gap, Route, Target
from .chunks import sentences_of
from .corpus import BULLET, LIST_TOPICS, Guide, SalaryRow, Section, parse_salary_table
from .evidence import Ranking, Scored, quote_stems, stem, stems
from .phrases import (
    join_items,
    period_phrase,
    place_name,
    role_phrase,
    role_singular,
    say,
    word,
)
from .understand import Query
from .vocab import COUNTRY, level_of_label, normalize, singular, words

MAX_QUOTE_SENTENCES = 2
COVERAGE_ROLES, COVERAGE_PLACES = 6, 6
# A refusal names at most this many of the guide's sections (then "and more").
REFUSAL_SECTIONS = 6


@dataclass
class Source:
    title: str
    section: str
    file: str
    url: str | None
    score: float
    quote: str


@dataclass
class Answer:
    answer: str
    abstained: bool
    sources: list[Source] = field(default_factory=list)
    facts: list[dict] = field(default_factory=list)
    latency_ms: float = 0.0
    # Not in DESIGN §2's example; says which kind of reply this is, for clients and evals:
    # "answer" | "refusal" | "clarify" | "smalltalk".
    kind: str = "answer"
    # Why a refusal refused: "no_guide" (no guide for the place or role asked), "not_covered"
    # (the guide does not cover the subject) or "off_topic"; null for any other kind.
    reason: str | None = None
    # The answer's id (32 hex characters) from `Assistant.ask`, the key of its question-log
    # record and of its feedback; null from `explain` (the eval).
    id: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _source(guide: Guide, section: str, quote: str, score: float) -> Source:
    return Source(guide.title, section, guide.file, guide.url, round(float(score), 4), quote)


def _place(target: Target, lang: str) -> str:
    guide = target.guide
    if guide.is_country_wide:
        return place_name(COUNTRY, lang)
    return place_name(guide.place, lang)


def _prefix(target: Target, lang: str) -> str:
    if target.fallback and target.asked_place:
        return say("fallback", lang, role=target.guide.role, asked=place_name(target.asked_place, lang))
    return ""


# --- coverage: what the guides do cover, for refusals and help -------------------------


def coverage(catalogue: Catalogue, lang: str, role: str | None = None,
             place: str | None = None) -> str:
    guides = catalogue.find(place, role) or catalogue.guides
    by_role: dict[str, list[str]] = {}
    for guide in guides:
        label = word("belgium_wide", lang) if guide.is_country_wide else place_name(guide.place, lang)
        by_role.setdefault(guide.role, []).append(label)
    parts = []
    for name, places in list(by_role.items())[:COVERAGE_ROLES]:
        shown = places[:COVERAGE_PLACES] + ([word("more", lang)] if len(places) > COVERAGE_PLACES else [])
        parts.append(f"{name} ({', '.join(shown)})")
    if len(by_role) > COVERAGE_ROLES:
        parts.append(word("more", lang))
    return "; ".join(parts)


def examples(catalogue: Catalogue, lang: str) -> str:
    return " · ".join(f"“{line}”" for line in example_questions(catalogue, lang))


def example_questions(catalogue: Catalogue, lang: str) -> list[str]:
    """Two or three questions about guides that are actually indexed (for help and the chat page)."""
    if not catalogue.guides:
        return []
    first = next((g for g in catalogue.guides if not g.is_country_wide), catalogue.guides[0])
    other = next((g for g in catalogue.guides if g.place != first.place), first)
    lines = [
        say("example_salary", lang, role_one=role_singular(first.role), place=place_name(first.place, lang)),
        say("example_employers", lang, role=role_phrase(first.role), place=place_name(first.place, lang)),
        say("example_universities", lang, place=place_name(other.place, lang)),
    ]
    return lines


def smalltalk(query: Query, catalogue: Catalogue) -> Answer:
    text = say(query.smalltalk or "help", query.lang, coverage=coverage(catalogue, query.lang),
               examples=examples(catalogue, query.lang))
    return Answer(text, abstained=False, kind="smalltalk")


def gap_sentence(gap: Gap, catalogue: Catalogue, lang: str) -> str:
    if gap.kind == "place":
        return say("gap_place", lang, place=place_name(gap.place or "", lang),
                   coverage=coverage(catalogue, lang, role=gap.role))
    if gap.kind == "role":
        return say("gap_role", lang, role=gap.role or "", coverage=coverage(catalogue, lang))
    if gap.kind == "role_in_place":
        return say("gap_role_in_place", lang, role=gap.role or "", place=place_name(gap.place or "", lang),
                   options=join_items(list(gap.options), lang))
    if gap.kind == "choose_place" and gap.role is None:
        return say("choose_guide", lang, coverage=coverage(catalogue, lang))
    if gap.kind == "choose_place":
        return say("choose_place", lang, role=gap.role,
                   options=join_items([place_name(p, lang) for p in gap.options], lang))
    return say("choose_role", lang, place=place_name(gap.place or "", lang),
               options=join_items(list(gap.options), lang))


def refusal(text: str, kind: str = "refusal", sources: list[Source] | None = None) -> Answer:
    return Answer(text, abstained=True, sources=sources or [], kind=kind)


def off_topic(query: Query, catalogue: Catalogue) -> Answer:
    return refusal(say("off_topic", query.lang, coverage=coverage(catalogue, query.lang),
                       examples=examples(catalogue, query.lang)))


# --- one guide's evidence, rendered ---------------------------------------------------------

# A second sentence is quoted when it scores at least this share of the best one.
SECOND_SENTENCE_SHARE = 0.9
# Words that open a sentence leaning on the one before it (English, Dutch, French
# demonstratives, pronouns and possessives; not articles: Dutch "het" and "de" start most
# sentences, and not Dutch "zijn", which is also "are").
REFERRING_WORDS = frozenset({"this", "these", "that", "those", "it", "its", "they", "their",
                             "such", "dit", "deze", "dat", "die", "hun", "ce", "cet", "cette",
                             "ces", "cela", "ceci", "son", "sa", "ses", "leur", "leurs"})
MAX_REFERRING_QUOTE = 3  # sentences, when a reference brings in its partner


@dataclass
class Part:
    """A piece of an answer: its sentence, the sources and facts behind it."""

    text: str
    sources: list[Source] = field(default_factory=list)
    facts: list[dict] = field(default_factory=list)
    grounded: bool = True  # False: the guide does not say (low support, empty section)


def _rows_for_levels(rows: list[SalaryRow], levels: tuple[str, ...]) -> tuple[list[SalaryRow], list[str]]:
    if not levels:
        return rows, []
    chosen = [row for row in rows if level_of_label(row.level) & set(levels)]
    found = set().union(*(level_of_label(row.level) for row in chosen)) if chosen else set()
    return chosen, [level for level in levels if level not in found]


LEVEL_LABELS = {"junior": "junior", "mid": "mid-level", "senior": "senior", "lead": "lead",
                "principal": "principal/architect"}


def _section(guide: Guide, heading: str) -> Section | None:
    return next((s for s in guide.sections if s.heading == heading), None)


def salary_part(target: Target, query: Query, section: Section, score: float) -> Part:
    guide, lang = target.guide, query.lang
    rows = [row for block in section.blocks if block.kind == "table"
            for row in parse_salary_table(block.lines)]
    if not rows:
        return _quote_lines(target, query, section, [line for b in section.blocks for line in b.lines
                                                      if b.kind == "table"][2:], score)
    chosen, missing = _rows_for_levels(rows, query.levels)
    place, role = _place(target, lang), role_phrase(guide.role)
    period = period_phrase(chosen[0].period if chosen else rows[0].period, lang)
    if len(chosen) == 1:
        text = say("salary_one", lang, level=chosen[0].level, role=role, place=place,
                   range=chosen[0].range_text, period=period)
    elif chosen:
        listed = "; ".join(f"{row.level} {row.range_text}" for row in chosen)
        text = say("salary_rows", lang, role=role, place=place, period=period, rows=listed)
    else:
        text = ""
    if missing:
        note = say("missing_levels", lang, title=guide.title,
                   levels=join_items([LEVEL_LABELS[m] for m in missing], lang),
                   available=join_items([row.level for row in rows], lang))
        text = f"{text} {note}".strip()
    if not chosen:
        return Part(text, [_source(guide, section.heading, "\n".join(r.row for r in rows), score)],
                    grounded=False)
    facts = [f for f in guide.facts() if f["kind"] == "salary"
             and f["level"] in {row.level for row in chosen}]
    quote = "\n".join(row.row for row in chosen)
    return Part(_prefix(target, lang) + text, [_source(guide, section.heading, quote, score)], facts)


def _quote_lines(target: Target, query: Query, section: Section, lines: list[str], score: float) -> Part:
    guide = target.guide
    text = " ".join(line.strip() for line in lines)
    body = say("quote", query.lang, title=guide.title, section=section.heading, text=text)
    return Part(_prefix(target, query.lang) + body, [_source(guide, section.heading, text, score)])


def list_part(target: Target, query: Query, section: Section, score: float) -> Part:
    guide, lang = target.guide, query.lang
    items = section.items
    joined = " → ".join(items) if any("→" in line for b in section.blocks for line in b.lines) \
        else ", ".join(items)
    if section.topic in LIST_TOPICS:
        text = say(section.topic, lang, role=role_phrase(guide.role), place=_place(target, lang),
                   items=joined)
    else:  # a list under a heading of the guide's own: say the heading, not a guessed topic
        text = say("list", lang, title=guide.title, section=section.heading, items=joined)
    kind = section.topic if section.topic in LIST_TOPICS else "list"
    facts = [{"kind": kind, "role": guide.role, "city": guide.place, "section": section.heading,
              "items": items}]
    return Part(_prefix(target, lang) + text, [_source(guide, section.heading, section.text, score)],
                facts)


def sentence_part(target: Target, query: Query, ranking: Ranking) -> Part:
    best = ranking.best
    assert best is not None
    guide = target.guide
    section = _section(guide, best.section)
    nearby = [u for u in ranking.units[1:4] if u.section == best.section
              and u.block == "sentence"]
    # A second sentence that scores almost as well, or one that holds a word of the question
    # the best one lacks ("the stack? CI, IaC, scripting": CI in one sentence, scripting
    # in the next).
    asked = {stem(t) for t in query.terms}
    missing = asked - quote_stems(best.node)
    same = [u for u in nearby if u.score >= SECOND_SENTENCE_SHARE * best.score
            or missing & quote_stems(u.node)]
    chosen = _with_references(sorted([best, *same[:1]], key=lambda u: u.meta["position"]),
                              ranking)
    if _asks_for_the_section(query, best.section, ranking):
        # "Tell me about the Leuven tech scene": the section as a whole, so its opening.
        chosen = [u for u in ranking.units if u.section == best.section
                  and u.block == "sentence" and u.meta["position"] < MAX_QUOTE_SENTENCES]
        chosen = sorted(chosen, key=lambda u: u.meta["position"]) or [best]
    text = " ".join(u.meta["quote"] for u in chosen)
    body = say("quote", query.lang, title=guide.title, section=best.section, text=text)
    heading = section.heading if section else best.section
    return Part(_prefix(target, query.lang) + body, [_source(guide, heading, text, best.score)])


def _refers_back(unit: Scored) -> bool:
    first = words(unit.meta["quote"][:40])[:1]
    return bool(first) and first[0] in REFERRING_WORDS


def _with_references(chosen: list[Scored], ranking: Ranking) -> list[Scored]:
    """A quoted sentence that opens by referring back ("This concentration of activity…")
    comes with the sentence before it, and one that the next sentence refers back to
    ("These figures reflect a premium driven by…") with that sentence: quoted alone, either
    half loses what it says."""
    by_position = {u.meta["position"]: u for u in ranking.units
                   if u.section == chosen[0].section and u.block == "sentence"}
    found = list(chosen)
    for unit in chosen:
        before = by_position.get(unit.meta["position"] - 1)
        if _refers_back(unit) and before is not None and before not in found:
            found.append(before)
    after = by_position.get(max(u.meta["position"] for u in found) + 1)
    if after is not None and _refers_back(after) and len(found) < MAX_REFERRING_QUOTE:
        found.append(after)
    return sorted(found, key=lambda u: u.meta["position"])


def _asks_for_the_section(query: Query, heading: str, ranking: Ranking) -> bool:
    """Every content word of the question that the section holds is in its heading."""
    heading_stems = stems(heading)
    section_stems = set(heading_stems)
    for unit in ranking.units:
        if unit.section == heading:
            section_stems |= quote_stems(unit.node)
    held = {stem(t) for t in query.terms} & section_stems
    return bool(held) and held <= heading_stems


def _not_covered(guide: Guide, lang: str, closest: str | None = None) -> Part:
    """"The guide does not cover that", with its closest section and what it does have.
    Only useful sections are named: a closest section that is boilerplate (the title's
    intro, the jobs link) is left out, and the list stops after a few (issue 10)."""
    useful = _useful_sections(guide)
    if not useful:
        return Part(say("empty_guide", lang, title=guide.title), grounded=False)
    more = [word("more", lang)] if len(useful) > REFUSAL_SECTIONS else []
    shown = ", ".join(useful[:REFUSAL_SECTIONS] + more)
    if closest in useful:
        return Part(say("no_section_closest", lang, title=guide.title, closest=closest,
                        sections=shown), grounded=False)
    return Part(say("no_section", lang, title=guide.title, sections=shown), grounded=False)


def _useful_sections(guide: Guide) -> list[str]:
    # Boilerplate (the jobs link, the title's intro) is not something the guide "covers".
    return [s.heading for s in guide.sections if not s.is_empty
            and s.heading != "Introduction" and s.topic != "jobs"]


def _sentence_naming_an_item(ranking: Ranking, query: Query) -> Scored | None:
    """A well-ranked prose sentence about a list item the question names, if any."""
    asked = f" {normalize(query.text)} "
    items = [u for u in ranking.units[:5] if u.block == "item"
             and len(normalize(BULLET.sub("", u.meta["quote"]))) > 2
             and f" {normalize(BULLET.sub('', u.meta['quote']))} " in asked]
    for item in items:
        name = normalize(BULLET.sub("", item.meta["quote"]))
        for unit in ranking.units[:8]:
            if unit.block == "sentence" and f" {name}" in f" {normalize(unit.meta['quote'])}":
                return unit
    return None


def _as_written(guide: Guide, names: tuple[str, ...]) -> str:
    """The names as the guide writes them ("telenet" → "Telenet")."""
    text = " ".join(section.text for section in guide.sections)
    return " ".join(next((found.group() for found in re.finditer(
        rf"(?<![\w.]){re.escape(name)}(?!\w)", text, re.IGNORECASE)), name) for name in names)


def evidence_part(target: Target, query: Query, ranking: Ranking, threshold: float) -> Part:
    """Render one guide's best evidence, or say the guide does not cover the question."""
    guide, lang = target.guide, query.lang
    best = ranking.best
    if best is None:
        return _not_covered(guide, lang)
    section = _section(guide, best.section)
    if ranking.signals.get("unstated_per"):
        # "What's the day rate?" of a guide whose table is yearly: say what it gives instead.
        rows = guide.salary_rows()
        if rows:
            return Part(say("no_rate", lang, title=guide.title,
                            period=period_phrase(rows[0].period, lang),
                            rates=word(f"{query.form.per}_rates", lang)), grounded=False)
    if ranking.unnamed and best.block in ("row", "table") and query.form.amount:
        # "What does Telenet pay?" of a pay table that names no employer: say what it gives,
        # or which levels it has when it has none of those asked ("a head of quality").
        chosen, missing = _rows_for_levels(guide.salary_rows(), query.levels)
        if not missing:
            return Part(say("no_named_pay", lang, title=guide.title,
                            role=role_phrase(guide.role), place=_place(target, lang),
                            named=_as_written(guide, ranking.unnamed)), grounded=False)
        if not chosen and section is not None:
            return salary_part(target, query, section, best.score)
    if ranking.support < threshold or section is None:
        return _not_covered(guide, lang, closest=best.section)
    if best.block == "empty":
        return Part(say("empty_section", lang, title=guide.title, section=section.heading),
                    [_source(guide, section.heading, "", best.score)], grounded=False)
    if best.block in ("row", "table"):
        rows = salary_part(target, query, section, best.score)
        # A note beside the table that holds words of the question the rows don't ("Do the
        # figures include the company car?" → "…excluding company car and meal vouchers").
        note = next((u for u in ranking.units if u.section == best.section
                     and u.block == "sentence"), None)
        if (rows.grounded and note is not None
                and note.signals["coverage"] > best.signals["coverage"]):
            quoted = say("quote", lang, title=guide.title, section=section.heading,
                         text=note.meta["quote"])
            return Part(f"{rows.text} {quoted}", rows.sources + [
                _source(guide, section.heading, note.meta["quote"], note.score)], rows.facts)
        return rows
    if best.block in ("item", "list", "path"):
        named = _sentence_naming_an_item(ranking, query)
        if named is not None:  # "What does imec do?": the sentence about it, not the list
            return sentence_part(target, query, Ranking([named], ranking.support))
        return list_part(target, query, section, best.score)
    if any(block.kind == "table" for block in section.blocks):
        # A sentence beside a salary table is a note on it ("Monthly figures exclude the
        # 13th-month bonus"): the rows, then the note.
        rows = salary_part(target, query, section, best.score)
        if rows.grounded:
            note = say("quote", lang, title=guide.title, section=section.heading,
                       text=best.meta["quote"])
            return Part(f"{rows.text} {note}", rows.sources + [
                _source(guide, section.heading, best.meta["quote"], best.score)], rows.facts)
    return sentence_part(target, query, ranking)


def overview_part(target: Target, query: Query) -> Part:
    """A question that names a guide and nothing else to look up: its opening sentences."""
    guide = target.guide
    prose = [s for s in guide.sections if any(b.kind == "paragraph" for b in s.blocks)
             and s.heading != "Introduction"]
    if not prose:
        return _not_covered(guide, query.lang)
    section = prose[0]
    if query.describes_role:  # "What does a DevOps engineer do?": the section about the role
        role_words = {singular(w) for w in words(guide.role)}
        place_words = set(words(guide.city or "")) | set(words(guide.country))
        about_role = [s for s in prose if role_words & {singular(w) for w in words(s.heading)}
                      and not place_words & set(words(s.heading))]
        section = about_role[0] if about_role else section
    first = next(b for b in section.blocks if b.kind == "paragraph").lines[0]
    lines = sentences_of(first)[:MAX_QUOTE_SENTENCES]
    return _quote_lines(target, query, section, lines, 0.0)


def compose(query: Query, route: Route, catalogue: Catalogue, rankings: dict[str, Ranking],
            threshold: float) -> Answer:
    """The answer for `query` from each routed guide's ranked evidence."""
    lang = query.lang
    gap_text = " ".join(gap_sentence(gap, catalogue, lang) for gap in route.gaps)
    if not route.targets:
        kind = "clarify" if route.gaps and all(g.kind.startswith("choose") for g in route.gaps) else "refusal"
        return refusal(gap_text or say("off_topic", lang, coverage=coverage(catalogue, lang),
                                       examples=examples(catalogue, lang)), kind)
    targets = route.targets
    about_country = any(t.about_country for t in targets)
    if about_country:
        # What the role's city guides say about the whole country: the best-supported one.
        best = max(targets, key=lambda t: rankings[t.guide.key].support)
        part = evidence_part(best, query, rankings[best.guide.key], threshold)
        if part.grounded:
            part.text = say("about_country", lang, title=best.guide.title,
                            country=place_name(COUNTRY, lang)) + part.text
        else:
            part = Part(say("no_country_guide", lang, role=role_phrase(best.guide.role) if query.roles
                            else word("tech", lang), country=place_name(COUNTRY, lang),
                            coverage=coverage(catalogue, lang, role=query.roles[0] if query.roles else None)),
                        grounded=False)
        parts = [part]
    elif not query.has_subject:
        parts = [overview_part(target, query) for target in targets[:1]] if len(targets) == 1 else []
        if not parts:
            roles = tuple(dict.fromkeys(t.guide.role for t in targets))
            gap = Gap("choose_role", place=targets[0].asked_place, options=roles)
            return refusal(gap_sentence(gap, catalogue, lang), "clarify")
    else:
        parts = [evidence_part(t, query, rankings[t.guide.key], threshold) for t in targets]
        if len(targets) > 1 and not query.roles and not query.compare:
            # Several roles' guides for one place and no role named: one answer serves only
            # when they say the same thing. Each place named is answered on its own.
            kept: list[Part] = []
            for place in dict.fromkeys(t.asked_place for t in targets):
                here = [(part, t) for part, t in zip(parts, targets, strict=True)
                        if t.asked_place == place]
                if len({part.text.replace(t.guide.role, "") for part, t in here}) > 1:
                    roles = tuple(dict.fromkeys(t.guide.role for _part, t in here))
                    gap = Gap("choose_role", place=place, options=roles)
                    return refusal(gap_sentence(gap, catalogue, lang), "clarify")
                kept.append(here[0][0])
            parts = kept
    grounded = [part for part in parts if part.grounded]
    text = " ".join(part.text for part in parts if part.text)
    if gap_text:
        text = f"{text} {gap_text}"
    sources = [source for part in parts for source in part.sources]
    if not grounded:
        return refusal(text, sources=sources)
    return Answer(text, abstained=False, sources=sources,
                  facts=[fact for part in grounded for fact in part.facts])
