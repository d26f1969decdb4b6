"""`Assistant`: one question (with its conversation) in, one `Answer` out.

Wires the steps together: validate the input, understand the question in context, route it
to guides, retrieve within them, compose the answer, time it. Every interface (CLI, batch,
HTTP API, chat page, eval) calls `Assistant.ask`. The embedder and the Chroma client are
constructor arguments with real defaults: the seam tests use.
"""

from __future__ import annotations

import time
import unicodedata
from typing import Any

from .answer import Answer, Evidence, compose, off_topic, smalltalk
from .catalogue import Catalogue, Route, Target
from .errors import InputError, NoIndexError, QuestionTooLong
from .index import Store, server_errors
from .retrieve import HybridRetriever
from .settings import Settings
from .understand import Query, understand, vocabulary_for


def validate_question(question: Any, settings: Settings) -> str:
    if not isinstance(question, str):
        raise InputError("the question must be a string")
    text = question.strip()
    if not text:
        raise InputError("the question is empty")
    if len(text) > settings.max_question_chars:
        raise QuestionTooLong(
            f"the question is {len(text):,} characters long; the limit is "
            f"{settings.max_question_chars:,}"
        )
    junk = sum(1 for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")
               and ch not in "\n\t\r")
    if "\x00" in text or junk > max(1, len(text) // 10):
        raise InputError("the question contains binary data, not text")
    return text


def validate_history(history: Any, settings: Settings) -> list[dict]:
    if history is None:
        return []
    if not isinstance(history, list):
        raise InputError("history must be a list of {role, content} turns")
    for turn in history:
        if (not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant")
                or not isinstance(turn.get("content"), str)):
            raise InputError('each history turn must be {"role": "user"|"assistant", "content": str}')
    return history[-settings.max_history_turns:]


class Assistant:
    def __init__(self, settings: Settings, embedder: Any = None, client: Any = None) -> None:
        if embedder is None:
            from .embeddings import default_embedder

            embedder = default_embedder(settings)
        self.settings = settings
        self.store = Store(settings, client=client)
        guides = self.store.load_guides()
        if not guides:
            raise NoIndexError("the index is empty: run `assistant ingest` first")
        self.catalogue = Catalogue(guides)
        self.vocabulary = vocabulary_for(tuple(self.catalogue.roles))
        self.retriever = HybridRetriever(self.store, embedder, guides,
                                         settings.retrieve_top_k)

    def understand(self, question: str, history: list[dict] | None = None) -> Query:
        return understand(question, history or [], self.vocabulary)

    def ask(self, question: Any, history: Any = None) -> Answer:
        started = time.perf_counter()
        text = validate_question(question, self.settings)
        turns = validate_history(history, self.settings)
        query = self.understand(text, turns)
        with server_errors(self.settings):
            answer = self._answer(query)
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return answer

    def _answer(self, query: Query) -> Answer:
        if query.smalltalk:
            return smalltalk(query, self.catalogue)
        if not query.has_slots and not query.terms:
            return off_topic(query, self.catalogue)
        # Searched with the topic and content words, not the raw question (see Query.search_text).
        embedding = self.retriever.embed(query.search_text)
        if query.has_slots:
            route = self.catalogue.route(query)
        else:
            # Nothing named: let retrieval pick the guide, and quote it only if it matches.
            results = self.retriever.retrieve(query.search_text, embedding=embedding, top_k=3)
            if not results:
                return off_topic(query, self.catalogue)
            best = self.catalogue.by_key[results[0].node.metadata["guide"]]
            route = Route(targets=[Target(best, None)])
        keys = list(dict.fromkeys(target.guide.key for target in route.targets))
        results = self.retriever.retrieve(query.search_text, keys, embedding=embedding) if keys else []
        answer = compose(query, route, self.catalogue, Evidence(results))
        if answer.abstained and not query.has_slots:
            return off_topic(query, self.catalogue)
        return answer
