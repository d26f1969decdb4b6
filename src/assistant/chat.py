"""`Assistant`: one question (with its conversation) in, one `Answer` out.

Wires the steps together: validate the input, understand the question in context, route it
to guides, rank each guide's evidence, compose the answer, time it. Every interface (CLI, batch,
HTTP API, chat page, eval) calls `Assistant.ask`. The embedder and the Chroma client are
constructor arguments with real defaults: the seam tests use. The embedder is wrapped in a
`QueryEmbedder` (question cache, micro-batching; `query_embedder.py`), and each answer is
marked in progress there so that concurrent answers' questions share a forward pass. An
answer given a deadline (the API's time budget) checks it between steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from .answer import Answer, compose, coverage, off_topic, refusal, smalltalk
from .catalogue import Catalogue, Route, Target
from .corpus import page_url
from .errors import NoIndexError, OverBudget
from .evidence import (
    Calibration,
    Ranking,
    TermWeights,
    default_calibration,
    domain_stems,
    names_in,
    rank_units,
    speaks_of_country,
    stem,
    unit_stems,
)
from .index import Store, server_errors
from .phrases import say
from .query_embedder import QueryEmbedder, query_embedder
from .questionlog import CONVERSATION_ID, INTERFACES, NullLog, QuestionLog, new_answer_id
from .request import validate_request
from .retrieve import HybridRetriever
from .settings import Settings
from .understand import Query, question_parts, understand, vocabulary_for
from .vocab import COUNTRY, COUNTRY_ALIASES, words

# Understanding re-reads the earlier user turns to carry place, role and topic forward; a
# follow-up leans on the last few, so older ones are not parsed at all (their cost would
# grow with the conversation, and the client decides how long that is).
CONTEXT_USER_TURNS = 4


def validate_question(question: Any, settings: Settings) -> str:
    """The question, stripped, or the `InputError` saying what is wrong with it."""
    return validate_request({"question": question}, settings)[0]


def validate_history(history: Any, settings: Settings) -> list[dict]:
    """The history's turns, or the `InputError` (`HistoryTooLong`: over a cap)."""
    return validate_request({"question": "?", "history": history}, settings)[1]


@dataclass
class Trace:
    """What one `ask` read off its question, for the question log: the question as answered,
    its language, the places and roles it named (with or without a guide), the routed guides."""

    question: str = ""
    lang: str | None = None
    places: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    guides: list[str] = field(default_factory=list)

    def note(self, query: Query) -> None:
        self.lang = self.lang or query.lang
        for name in (*query.places, *query.unknown_places):
            if name not in self.places:
                self.places.append(name)
        for name in (*query.roles, *query.unknown_roles):
            if name not in self.roles:
                self.roles.append(name)

    def routed(self, route: Route) -> None:
        for target in route.targets:
            if target.guide.title not in self.guides:
                self.guides.append(target.guide.title)


@dataclass
class Progress:
    """One answer in progress: its deadline (a `time.monotonic()` value, or None) and its
    `Trace`. Passed down the answer's steps, not kept on the shared `Assistant`: the server
    answers many questions at once on one instance."""

    deadline: float | None = None
    trace: Trace = field(default_factory=Trace)

    def check(self) -> None:
        # Checked between steps: each step is bounded by the request limits, so a request
        # past its budget stops soon after it instead of holding a worker to the end.
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OverBudget("the answer took longer than this server allows; try again")


def record_of(answer: Answer, trace: Trace, interface: str, conversation: str | None) -> dict:
    """The question log's record of one answer: nothing but what the answer path saw (no
    request metadata; the conversation id is the page's random one, kept only if well-formed)."""
    top = answer.sources[0] if answer.sources else None
    return {"id": answer.id, "conversation": conversation if isinstance(conversation, str)
            and CONVERSATION_ID.match(conversation) else None,
            "interface": interface if interface in INTERFACES else "api",
            "question": trace.question, "lang": trace.lang or "en", "places": trace.places,
            "roles": trace.roles, "guides": trace.guides, "kind": answer.kind,
            "abstained": answer.abstained, "reason": answer.reason,
            "top_guide": top.title[:300] if top else None,
            "top_section": top.section[:300] if top else None, "latency_ms": answer.latency_ms}


def _refused(answer: Answer, reason: str) -> Answer:
    """The refusal's reason, on a refusal only (a clarify or an answer has none)."""
    answer.reason = reason if answer.kind == "refusal" and answer.abstained else None
    return answer


def recent_user_turns(history: list[dict], count: int = CONTEXT_USER_TURNS) -> list[dict]:
    return [turn for turn in history if turn.get("role") == "user"][-count:]


class Assistant:
    def __init__(self, settings: Settings, embedder: Any = None, client: Any = None,
                 calibration: Calibration | None = None,
                 question_log: QuestionLog | NullLog | None = None) -> None:
        # No log unless one is given: the eval, benchmarks and tests ask thousands of questions
        # no recruiter asked. The interfaces (cli.py, `assistant serve`) pass
        # `open_question_log(settings)`, which honours ASSISTANT_LOG.
        self.question_log = question_log if question_log is not None else NullLog()
        if embedder is None:
            from .embeddings import default_embedder

            embedder = default_embedder(settings)
        if not isinstance(embedder, QueryEmbedder):
            # Questions go through the vector cache and the micro-batcher (settings say
            # which); texts to index pass straight through to `embedder`.
            embedder = query_embedder(settings, embedder)
        self.embedder = embedder
        self.settings = settings
        self.model_load_ms: float | None = None  # set by load_model()
        self.calibration = calibration or default_calibration()
        self.store = Store(settings, client=client)
        guides = self.store.load_guides()
        if not guides:
            raise NoIndexError("the index is empty: run `assistant ingest` first")
        # Resolved here, not stored at ingest: changing the site's base URL needs no re-ingest.
        guides = [replace(guide, url=page_url(guide, settings.site_base_url)) for guide in guides]
        self.catalogue = Catalogue(guides)
        self.retriever = HybridRetriever(self.store, embedder, guides,
                                         settings.retrieve_top_k)
        unit_texts = [node.text for guide in guides for node in self.retriever.unit_nodes(guide.key)]
        self.term_weights = TermWeights(unit_texts)
        self.domain_stems = domain_stems(guides)
        self._guides_of_stem: dict[str, set[str]] = {}
        for guide in guides:
            for node in self.retriever.unit_nodes(guide.key):
                for found in unit_stems(node):
                    self._guides_of_stem.setdefault(found, set()).add(guide.key)
        corpus_words = frozenset(w for text in unit_texts for w in words(text))
        self.vocabulary = vocabulary_for(tuple(self.catalogue.roles),
                                         tuple(g.city for g in guides if g.city), corpus_words)
        # A technology whose developers are asked about ("React developers") qualifies the
        # role, like the role's own words: no name the evidence must repeat.
        self._qualifiers = {w for form in self.vocabulary.specialists for w in form.distinct}

    def load_model(self) -> float:
        """Load the embedding model now (it otherwise loads on the first question) and return
        how long that took, in ms; kept as `model_load_ms`. Interfaces call this before the
        first question so that an answer's `latency_ms` never includes the model load
        (issue 10), and report the load on its own (log, `/api/health`)."""
        if self.model_load_ms is None:
            started = time.perf_counter()
            load = getattr(self.retriever.embedder, "load", None)
            if callable(load):
                load()
            self.retriever.embed("warm up")  # the first call also sets up torch's kernels
            self.model_load_ms = round((time.perf_counter() - started) * 1000, 1)
        return self.model_load_ms

    def understand(self, question: str, history: list[dict] | None = None) -> Query:
        return understand(question, recent_user_turns(history or []), self.vocabulary)

    def ask(self, question: Any, history: Any = None, *, deadline: float | None = None,
            interface: str = "cli", conversation: str | None = None) -> Answer:
        """The answer, with its id; with `deadline` (a `time.monotonic()` value) the work stops
        at the first step that starts after it, with `OverBudget`. The answer's record goes to
        the question log's queue (never waited for): `interface` is where the question came
        from (api, widget, chat, cli), `conversation` the page's random conversation id."""
        progress = Progress(deadline)
        answer = self._explain(question, history, progress)[0]
        answer.id = new_answer_id()
        if self.question_log.enabled:
            try:
                self.question_log.record(record_of(answer, progress.trace, interface, conversation))
            except Exception:  # the log never fails an answer
                pass
        return answer

    def embedding_stats(self) -> dict[str, Any]:
        """The embedding model's precision choice, the question cache and the batches."""
        return self.embedder.stats()

    def explain(self, question: Any, history: Any = None, *, deadline: float | None = None
                ) -> tuple[Answer, dict[str, Ranking]]:
        """The answer, and each routed guide's ranked evidence behind it (for the eval)."""
        return self._explain(question, history, Progress(deadline))

    def _explain(self, question: Any, history: Any, progress: Progress
                 ) -> tuple[Answer, dict[str, Ranking]]:
        started = time.perf_counter()
        text, turns = validate_request({"question": question, "history": history}, self.settings)
        progress.trace.question = text
        with self.embedder.answering(), server_errors(self.settings):
            parts = question_parts(text)
            if len(parts) == 2:
                answer, rankings = self._two_parts(text, parts, turns, progress)
            else:
                answer, rankings = self._answer(self.understand(text, turns), progress)
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return answer, rankings

    def _two_parts(self, text: str, parts: list[str], turns: list[dict], progress: Progress
                   ) -> tuple[Answer, dict[str, Ranking]]:
        """A message asking two things gets both answers, or the one the guides give and a
        word on the other part. The second part is read in the first one's context (its
        place and role); when neither part is answered, or a part is not a question for the
        guides at all, the message is answered whole."""
        first_query = self.understand(parts[0], turns)
        second_query = self.understand(parts[1], [*turns, {"role": "user", "content": parts[0]}])
        first, first_rankings = self._answer(first_query, progress)
        progress.check()
        second, second_rankings = self._answer(second_query, progress)
        answered = [a for a in (first, second) if not a.abstained]
        if (not answered or any(a.kind in ("smalltalk", "clarify") for a in (first, second))
                or (not first.sources and not first.abstained)
                or (not second.sources and not second.abstained)):
            progress.check()
            return self._answer(self.understand(text, turns), progress)
        rankings = {**second_rankings, **first_rankings}
        if len(answered) == 1:
            # One part answered: only when the message as a whole is supported too. Otherwise
            # the answered part is likely a side word ("Do Leuven companies give stock
            # options, and how much equity…?" is not a question about the companies list).
            progress.check()
            whole = self._answer(self.understand(text, turns), progress)
            if whole[0].abstained:
                return whole
            missing = parts[1] if answered[0] is first else parts[0]
            lang = first_query.lang
            return replace(answered[0], answer=f"{answered[0].answer} "
                           f"{say('other_part', lang, part=missing.rstrip('?').strip())}"), rankings
        if (first.sources[0].file, first.sources[0].section) == (
                second.sources[0].file, second.sources[0].section):
            return first, rankings  # both parts found the same evidence: say it once
        return Answer(f"{first.answer} {second.answer}", abstained=False,
                      sources=first.sources + second.sources,
                      facts=first.facts + second.facts, kind="answer"), rankings

    def focus(self, query: Query) -> Query:
        """The query without the site's own vocabulary ("recruiting", "hire"): every guide
        opens with it, so in a question it only draws the "Why hire…" sections."""
        terms = tuple(t for t in query.terms if stem(t) not in self.domain_stems)
        if query.terms and not terms:  # "Why hire in Leuven?": that word is the question
            return query
        kept = [w for w in query.search_text.split() if stem(w) not in self.domain_stems]
        return replace(query, search_text=" ".join(kept) or query.search_text, terms=terms)

    def _guides_with_rarest(self, terms: tuple[str, ...]) -> list[str]:
        """The guides that hold the question's rarest word; none when no guide uses it ("the
        capital of Peru": a question that names neither place nor role and whose rarest word
        no guide holds is not one for the guides, even with a single guide indexed)."""
        if not terms:
            return [guide.key for guide in self.catalogue.guides]
        rarest = max((stem(t) for t in terms), key=self.term_weights.idf)
        return sorted(self._guides_of_stem.get(rarest, ()))

    def rank(self, query: Query, target: Target, embedding: list[float],
             references: tuple[str, ...] = ()) -> Ranking:
        """One guide's units ranked for `query`. `references` are the places the question
        names that no routed guide is about ("cheaper than in Brussels?" to the Mechelen
        guide): words to look for in its text, like any other content word."""
        units, dense, keyword = self.retriever.unit_scores(target.guide.key, query.search_text, embedding)
        terms = query.terms + tuple(w for place in references for w in words(place)
                                    if place != target.guide.city)
        if target.about_country:  # only what the guide says about the country as a whole
            units = [u for u in units if speaks_of_country(u.metadata["quote"], COUNTRY_ALIASES,
                                                           target.guide.city)]
        headings = self.retriever.heading_scores(target.guide.key, embedding)
        sections = self.retriever.section_scores(target.guide.key, embedding)
        names = names_in(tuple(t for t in query.terms if t not in self._qualifiers), units)
        compared = names_in(terms[len(query.terms):], units) if query.form.relation else ()
        return rank_units(units, dense, keyword, terms, query.levels, self.term_weights,
                          self.calibration, headings, sections, query.form, names, compared)

    def _answer(self, query: Query, progress: Progress) -> tuple[Answer, dict[str, Ranking]]:
        progress.check()
        trace = progress.trace
        trace.note(query)
        if query.smalltalk:
            return smalltalk(query, self.catalogue), {}
        if not query.has_slots and not query.terms:
            return _refused(off_topic(query, self.catalogue), "off_topic"), {}
        query = self.focus(query)
        if query.places or query.roles or query.unknown_places or query.unknown_roles:
            route = self.catalogue.route(query)
        else:
            # Neither place nor role named: one guide only if the question's rarest word is
            # in one guide alone ("What does imec do?"); "What are the salaries?" asks which.
            holders = self._guides_with_rarest(query.terms)
            if not holders:  # a word no guide uses: not something the guides treat
                return _refused(off_topic(query, self.catalogue), "off_topic"), {}
            if len(holders) > 1:
                return refusal(say("choose_guide", query.lang,
                                   coverage=coverage(self.catalogue, query.lang)), "clarify"), {}
            route = Route(targets=[Target(self.catalogue.by_key[holders[0]], None)])
        trace.routed(route)
        embedding = self.retriever.embed(query.search_text)
        covered = {t.asked_place for t in route.targets} | {t.guide.city for t in route.targets}
        references = tuple(p for p in query.places if p not in covered and p != COUNTRY)
        rankings = {}
        for target in route.targets:  # a country-wide question can route to many guides
            progress.check()
            rankings[target.guide.key] = self.rank(query, target, embedding, references)
        progress.check()
        answer = compose(query, route, self.catalogue, rankings, self.calibration.threshold)
        if answer.abstained and not query.has_slots:
            return _refused(off_topic(query, self.catalogue), "off_topic"), rankings
        if route.targets:
            reason = "not_covered"
        elif any(gap.kind in ("place", "role", "role_in_place") for gap in route.gaps):
            reason = "no_guide"
        else:
            reason = "off_topic"
        return _refused(answer, reason), rankings
