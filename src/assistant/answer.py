"""The answer object (DESIGN §2) and how it is composed from routed guides and retrieval.

Salary and list topics are answered from the facts parsed at ingest, quoting figures and
items exactly as the guide writes them; other topics quote the guide's own best-matching
sentences. Every non-abstained answer cites the lines it used, so every number in it can be
found in a cited `quote`. Refusals say what the guides do cover. No generative model is
used here; there is nothing that could invent a number.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from llama_index.core.schema import NodeWithScore

from .catalogue import Catalogue, Gap, Route, Target
from .corpus import Guide, SalaryRow, Section
from .phrases import (
    join_items,
    period_phrase,
    place_name,
    role_phrase,
    role_singular,
    say,
    word,
)
from .understand import STRUCTURED_TOPICS, Query
from .vocab import COUNTRY, level_of_label, words

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9“\"'(€])")
MAX_QUOTE_SENTENCES = 2
COVERAGE_ROLES, COVERAGE_PLACES = 6, 6


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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Evidence:
    """Retrieval results for one question, looked up by guide and section."""

    results: list[NodeWithScore]

    def score(self, guide: Guide, section: str) -> float:
        for hit in self.results:
            meta = hit.node.metadata
            if meta.get("guide") == guide.key and meta.get("section") == section:
                return round(float(hit.score or 0.0), 4)
        return 0.0

    def ranked_sections(self, guide_keys: set[str]) -> list[tuple[str, str, float]]:
        seen, ranked = set(), []
        for hit in self.results:
            meta = hit.node.metadata
            pair = (meta.get("guide"), meta.get("section"))
            if pair[0] in guide_keys and pair not in seen:
                seen.add(pair)
                ranked.append((pair[0], pair[1], float(hit.score or 0.0)))
        return ranked


def _source(guide: Guide, section: str, quote: str, evidence: Evidence) -> Source:
    return Source(guide.title, section, guide.file, guide.url, evidence.score(guide, section), quote)


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


# --- one topic for one guide --------------------------------------------------------------


@dataclass
class Part:
    """A piece of an answer: its sentence, the sources and facts behind it."""

    text: str
    sources: list[Source] = field(default_factory=list)
    facts: list[dict] = field(default_factory=list)
    grounded: bool = True  # False: the guide does not say (empty or missing section)


def _rows_for_levels(rows: list[SalaryRow], levels: tuple[str, ...]) -> tuple[list[SalaryRow], list[str]]:
    if not levels:
        return rows, []
    chosen = [row for row in rows if level_of_label(row.level) & set(levels)]
    found = set().union(*(level_of_label(row.level) for row in chosen)) if chosen else set()
    return chosen, [level for level in levels if level not in found]


LEVEL_LABELS = {"junior": "junior", "mid": "mid-level", "senior": "senior", "lead": "lead",
                "principal": "principal/architect"}


def salary_part(target: Target, query: Query, evidence: Evidence) -> Part:
    guide, lang = target.guide, query.lang
    rows = guide.salary_rows()
    section = next((s.heading for s in guide.sections_on("salary")), "Salary Ranges")
    if not rows:
        return _not_covered(guide, lang)
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
        return Part(text, [_source(guide, section, "\n".join(r.row for r in rows), evidence)],
                    grounded=False)
    facts = [f for f in guide.facts() if f["kind"] == "salary"
             and f["level"] in {row.level for row in chosen}]
    quote = "\n".join(row.row for row in chosen)
    return Part(_prefix(target, lang) + text, [_source(guide, section, quote, evidence)], facts)


def _not_covered(guide: Guide, lang: str) -> Part:
    """"The guide does not cover that", with the sections it does have (if any)."""
    sections = _section_list(guide)
    if not sections:
        return Part(say("empty_guide", lang, title=guide.title), grounded=False)
    return Part(say("no_section", lang, title=guide.title, sections=sections), grounded=False)


def _section_list(guide: Guide) -> str:
    return ", ".join(s.heading for s in guide.sections if not s.is_empty and s.topic != "general")


def list_part(target: Target, topic: str, query: Query, evidence: Evidence) -> Part:
    guide, lang = target.guide, query.lang
    sections = guide.sections_on(topic)
    if not sections:
        return _not_covered(guide, lang)
    section = sections[0]
    items = guide.list_items(topic)
    if not items:
        empty = section if section.is_empty else None
        sources = [_source(guide, section.heading, section.text, evidence)] if empty else []
        return Part(say("empty_section", lang, title=guide.title, section=section.heading),
                    sources, grounded=False)
    joined = " → ".join(items) if topic == "career" else ", ".join(items)
    text = say(topic, lang, role=role_phrase(guide.role), place=_place(target, lang), items=joined)
    facts = [f for f in guide.facts() if f["kind"] == topic]
    quote = "\n".join(section.text for section in sections)
    return Part(_prefix(target, lang) + text, [_source(guide, section.heading, quote, evidence)], facts)


def sentences(section: Section) -> list[str]:
    out = []
    for block in section.blocks:
        if block.kind == "paragraph":
            for line in block.lines:
                out.extend(s.strip() for s in SENTENCE_END.split(line) if s.strip())
        else:
            out.extend(block.lines)
    return out


def _stem(token: str) -> str:
    return token[:5] if len(token) > 5 else token


def overlap(terms: tuple[str, ...], sentence: str) -> int:
    stems = {_stem(w) for w in words(sentence)}
    return sum(_stem(term) in stems for term in terms)


def _is_prose(line: str) -> bool:
    return not line.lstrip().startswith(("-", "•", "*", "|"))


def quote_part(target: Target, sections: list[Section], query: Query, evidence: Evidence,
               need_terms: bool) -> Part:
    """Quote up to two sentences of `sections`; with `need_terms`, only sentences that share
    at least half of the question's content words (else the guide doesn't say)."""
    guide, lang = target.guide, query.lang
    candidates = [(section, i, s) for section in sections for i, s in enumerate(sentences(section))]
    if not candidates:
        section = sections[0] if sections else None
        if section is not None and section.is_empty:
            return Part(say("empty_section", lang, title=guide.title, section=section.heading),
                        [_source(guide, section.heading, "", evidence)], grounded=False)
        return _not_covered(guide, lang)
    terms = query.terms
    scored = [(overlap(terms, s), -n, section, s) for n, (section, _i, s) in enumerate(candidates)]
    if need_terms:
        needed = max(1, (len(terms) + 1) // 2)
        scored = [entry for entry in scored if entry[0] >= needed]
        if not terms or not scored:
            return _not_covered(guide, lang)
    # On equal overlap a sentence of prose beats a bare list item or table row: "what does
    # imec do?" wants the sentence about imec, not the "- imec" line of a list.
    best = sorted(scored, key=lambda e: (e[0], _is_prose(e[3]), e[1]), reverse=True)[:MAX_QUOTE_SENTENCES]
    best.sort(key=lambda e: -e[1])  # back in the guide's order
    section = best[0][2]
    text = " ".join(entry[3] for entry in best if entry[2] is section)
    body = say("quote", lang, title=guide.title, section=section.heading, text=text)
    return Part(_prefix(target, lang) + body, [_source(guide, section.heading, text, evidence)])


def topic_part(target: Target, topic: str, query: Query, evidence: Evidence) -> Part:
    if topic == "salary":
        return salary_part(target, query, evidence)
    if topic in STRUCTURED_TOPICS:
        return list_part(target, topic, query, evidence)
    return quote_part(target, target.guide.sections_on(topic), query, evidence, need_terms=False)


def general_part(target: Target, query: Query, evidence: Evidence) -> Part:
    """No topic recognised: quote what retrieval ranks best, if it shares the question's words."""
    guide = target.guide
    # A subject no guide covers, or "how many X are there?" with nothing else to look up
    # (the overview has no count): say so rather than quote something near it.
    if query.uncovered or (query.count and not query.terms):
        return _not_covered(guide, query.lang)
    ranked = [name for key, name, _score in evidence.ranked_sections({guide.key})]
    by_name = {section.heading: section for section in guide.sections}
    sections = [by_name[name] for name in ranked if name in by_name and by_name[name].topic != "jobs"]
    if not query.terms:
        overview = [s for s in guide.sections if s.topic in ("general", "scene", "about_role")]
        return quote_part(target, overview[:1], query, evidence, need_terms=False)
    return quote_part(target, sections or guide.sections, query, evidence, need_terms=True)


def compose(query: Query, route: Route, catalogue: Catalogue, evidence: Evidence) -> Answer:
    lang = query.lang
    gap_text = " ".join(gap_sentence(gap, catalogue, lang) for gap in route.gaps)
    if not route.targets:
        kind = "clarify" if route.gaps and all(g.kind.startswith("choose") for g in route.gaps) else "refusal"
        return refusal(gap_text or say("off_topic", lang, coverage=coverage(catalogue, lang),
                                       examples=examples(catalogue, lang)), kind)
    targets = route.targets
    topics = query.main_topics
    if len({t.guide.role for t in targets}) > 1 and not query.roles and not _same_answer(targets, topics):
        roles = tuple(dict.fromkeys(t.guide.role for t in targets))
        gap = Gap("choose_role", place=targets[0].asked_place, options=roles)
        return refusal(gap_sentence(gap, catalogue, lang), "clarify")
    if not query.roles:
        targets = targets[:1] if _same_answer(targets, topics) else targets
    parts: list[Part] = []
    for target in targets:
        if topics:
            parts.extend(topic_part(target, topic, query, evidence) for topic in topics)
        else:
            parts.append(general_part(target, query, evidence))
    grounded = [part for part in parts if part.grounded]
    text = " ".join(part.text for part in parts if part.text)
    if gap_text:
        text = f"{text} {gap_text}"
    sources = [source for part in parts for source in part.sources]
    if not grounded:
        return refusal(text, sources=sources)
    return Answer(text, abstained=False, sources=sources,
                  facts=[fact for part in grounded for fact in part.facts])


def _same_answer(targets: list[Target], topics: tuple[str, ...]) -> bool:
    """Several guides for one place, no role named: one answer serves if their lists agree."""
    if not topics or any(topic not in ("employers", "hubs", "universities") for topic in topics):
        return len(targets) == 1
    return all(len({tuple(t.guide.list_items(topic)) for t in targets}) == 1 for topic in topics)

