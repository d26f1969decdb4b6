"""Hybrid retrieval: dense (Chroma) + BM25 within chosen guides, at two grains.

Sections are fused by reciprocal rank (picking a guide when a question names none, and the
eval's hit@3). Units (sentences, items, rows) get each retriever's own score, which
`evidence.py` combines with its other signals: rank fusion would throw the magnitudes away,
and the magnitudes are what a refusal is calibrated on.

Built from llama-index parts: a dense retriever, a `BM25Retriever` over the same guides'
chunks (rebuilt from the parsed guides), and a `QueryFusionRetriever` with `num_queries=1`
and an explicit `MockLLM`, so no query rewriting and no hosted model. The query is embedded
once by the caller and passed in the `QueryBundle`. This module does not decide what to
answer.

The dense half has two forms. Over all guides (a question that names no guide) it is a
`VectorIndexRetriever` on the `ChromaVectorStore`: Chroma's HNSW search, about 1 ms at 13k
chunks. Within chosen guides it is `ScopedDenseRetriever`: the scope's chunk vectors are read
from Chroma once and ranked exactly in memory, because Chroma's filtered query (a `where` on
the guide, or an `ids` list) measured 5-9 ms per call at 13k chunks against ~0.1 ms here, and
the scope is a dozen chunks. Both, like the BM25 index and the catalogue, are a snapshot of
the index as this process found it: restart replicas after an ingest (README, Scaling out).

Every hit carries the guide's own node (`chunks.guide_nodes`, looked up by chunk id), never
one rebuilt from the Chroma record: Chroma stores slim records (see `index`), and fusion adds
up the votes of the two retrievers for a chunk only when both return the same node.

Speed: building the three retrievers costs more than running them (the fusion retriever
resolves its LLM, BM25 tokenises and indexes its scope), so the assembled fusion retriever is
cached per (scope, top_k) and each guide's chunks are made once. A guide's units and sections
are ranked through `ranked`, the scoped retrievers' own `_retrieve`, without the library
wrapper's per-call instrumentation (measured there).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import bm25s
import numpy as np
from llama_index.core import VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode
from llama_index.retrievers.bm25 import BM25Retriever

from .chunks import guide_nodes, guide_words, strip_words
from .corpus import Guide

# bm25s logs a warning for every scope smaller than top_k; the scope size is known here.
logging.getLogger("llama_index.retrievers.bm25").setLevel(logging.ERROR)
BM25_CACHE_SCOPES = 2048
# One cached fusion retriever per (scope, top_k); a scope is usually one guide, so this holds
# every guide of a 1,000-guide site at both top_k values the assistant asks for.
FUSION_CACHE_SCOPES = 2048


class NodeBM25Retriever(BM25Retriever):
    """llama-index's `BM25Retriever`, handing back the scope's own node objects.

    The library rebuilds every hit from its JSON copy of the node (`metadata_dict_to_node`).
    Asked for every unit of a guide, that took 2.7 ms of a query's 3 (the scoring itself
    0.4 ms), and under 32 concurrent clients it was the largest Python cost of an answer
    (py-spy, GIL samples). Tokenising and scoring are the library's, unchanged."""

    def __init__(self, nodes: list[BaseNode] | None = None, **kwargs) -> None:
        super().__init__(nodes=nodes, **kwargs)
        self._by_position = list(nodes or [])

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not self._by_position:  # built from a persisted index: the library's own path
            return super()._retrieve(query_bundle)
        tokens = bm25s.tokenize(query_bundle.query_str,
                                stemmer=None if self.skip_stemming else self.stemmer,
                                token_pattern=self.token_pattern, show_progress=False)
        mask = np.array(self.corpus_weight_mask) if self.corpus_weight_mask else None
        positions, scores = self.bm25.retrieve(tokens, k=self.similarity_top_k,
                                               show_progress=False, weight_mask=mask)
        return [NodeWithScore(node=self._by_position[int(i)], score=float(score))
                for i, score in zip(positions[0], scores[0], strict=True)]


def ranked(retriever: ScopedDenseRetriever | NodeBM25Retriever, bundle: QueryBundle) -> list[NodeWithScore]:
    """The retriever's own ranking (`_retrieve`), without `BaseRetriever.retrieve`'s wrapper.

    An answer ranks each routed guide three times (sections dense, units dense and BM25).
    Per call the wrapper opens an instrumentation span (`inspect.signature`), sends two
    events and a callback event, each with a fresh `uuid4` (a `getrandom` call, around which
    CPython lets the GIL go), and re-checks the hits for `IndexNode`s and duplicates. Under
    load every GIL hand-off waits behind the answering threads: interleaved on a warm server
    at 32 clients, the wrapper's calls gave 223-300 req/s (p95 166-234 ms) and direct calls
    308-429 req/s (p95 108-153 ms); the 429 dev answers are identical. Only for this module's
    own retrievers, whose hits are the scope's plain `TextNode`s, each once: the recursive
    step and the de-duplication change nothing for them (a test compares both ways). The
    fused retrieval below keeps the library's `retrieve`.
    """
    return retriever._retrieve(bundle)


class ScopedDenseRetriever(BaseRetriever):
    """Exact cosine ranking of a fixed set of guides' chunks; vectors read from Chroma once.

    Scores like a filtered query on the cosine collection through `ChromaVectorStore`
    (exp(-cosine distance)), without paying Chroma's filtered-search cost on every question.
    """

    def __init__(self, vectors_of: Callable[[tuple[str, ...]], tuple[list[str], list[Any]]],
                 scope: tuple[str, ...], top_k: int,
                 nodes_of: Callable[[str], dict[str, TextNode]]) -> None:
        super().__init__()
        self._vectors_of = vectors_of
        self._scope = scope
        self._top_k = top_k
        self._nodes_of = nodes_of
        self._loaded: tuple[np.ndarray, list[BaseNode]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[np.ndarray, list[BaseNode]]:
        with self._lock:
            if self._loaded is None:
                ids, stored = self._vectors_of(self._scope)
                known = {cid: node for key in self._scope for cid, node in self._nodes_of(key).items()}
                # A stored chunk the guide's record does not list yet (an ingest running, or
                # killed before writing that record) is left out until the record catches up.
                kept = [(known[cid], vector) for cid, vector in zip(ids, stored, strict=True)
                        if cid in known]
                nodes = [node for node, _vector in kept]
                if not nodes:  # a guide with no sections has no chunks (numpy cannot reshape none)
                    self._loaded = (np.empty((0, 0), dtype=np.float32), [])
                    return self._loaded
                vectors = np.asarray([vector for _node, vector in kept], dtype=np.float32)
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                self._loaded = (vectors / np.where(norms == 0, 1, norms), nodes)
            return self._loaded

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vectors, nodes = self._load()
        if not nodes or query_bundle.embedding is None:
            return []
        query = np.asarray(query_bundle.embedding, dtype=np.float32)
        cosine = vectors @ (query / (np.linalg.norm(query) or 1.0))
        best = np.argsort(-cosine, kind="stable")[: self._top_k]
        return [NodeWithScore(node=nodes[i], score=math.exp(-(1.0 - float(cosine[i]))))
                for i in best]


class GuideNodeRetriever(BaseRetriever):
    """Another retriever's hits with each node swapped for the guide's own node of that id."""

    def __init__(self, inner: BaseRetriever, node_by_id: Callable[[], dict[str, TextNode]]) -> None:
        super().__init__()
        self._inner = inner
        self._node_by_id = node_by_id

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        known = self._node_by_id()
        return [NodeWithScore(node=known[hit.node.node_id], score=hit.score)
                for hit in self._inner.retrieve(query_bundle) if hit.node.node_id in known]


class HybridRetriever:
    def __init__(self, store: Any, embedder: Any, guides: list[Guide], top_k: int) -> None:
        self.embedder = embedder
        self.top_k = top_k
        self.guides = {guide.key: guide for guide in guides}
        self.store = store  # `index.Store`: the one place that reads Chroma
        self.index = VectorStoreIndex.from_vector_store(store.vector_store, embed_model=embedder)
        self._llm = MockLLM()
        self._bm25: OrderedDict[tuple[str, ...], BM25Retriever | None] = OrderedDict()
        self._fusion: OrderedDict[tuple[tuple[str, ...], int], QueryFusionRetriever] = OrderedDict()
        self._nodes: dict[tuple[str, str], list[TextNode]] = {}
        self._by_id: dict[tuple[str, str], dict[str, TextNode]] = {}
        self._headings: dict[str, dict[str, np.ndarray]] = {}
        self._units: OrderedDict[str, tuple[ScopedDenseRetriever, BM25Retriever | None]] = OrderedDict()
        self._sections: OrderedDict[str, ScopedDenseRetriever] = OrderedDict()
        self._all_by_id: dict[str, TextNode] | None = None

    def embed(self, text: str) -> list[float]:
        return self.embedder.get_query_embedding(text)

    def _guide_nodes(self, key: str, grain: str = "section") -> list[TextNode]:
        nodes = self._nodes.get((key, grain))
        if nodes is None:
            nodes = self._nodes[(key, grain)] = [
                node for node in guide_nodes(self.guides[key]) if node.metadata["grain"] == grain]
        return nodes

    def unit_nodes(self, key: str) -> list[TextNode]:
        return self._guide_nodes(key, "unit")

    def _nodes_by_id(self, key: str, grain: str = "section") -> dict[str, TextNode]:
        found = self._by_id.get((key, grain))
        if found is None:
            found = self._by_id[(key, grain)] = {node.node_id: node
                                                 for node in self._guide_nodes(key, grain)}
        return found

    def _unit_retrievers(self, key: str) -> tuple[ScopedDenseRetriever, NodeBM25Retriever | None]:
        found = self._units.get(key)
        if found is None:
            nodes = self.unit_nodes(key)
            dense = ScopedDenseRetriever(self.store.chunk_vectors, (key,), len(nodes),
                                         lambda k: self._nodes_by_id(k, "unit"))
            bm25 = NodeBM25Retriever.from_defaults(nodes=nodes, similarity_top_k=len(nodes),
                                               language="english") if nodes else None
            found = self._units[key] = (dense, bm25)
            if len(self._units) > BM25_CACHE_SCOPES:
                self._units.pop(next(iter(self._units)))
        return found

    def heading_vectors(self, key: str) -> dict[str, np.ndarray]:
        """Each section heading of a guide, embedded (without the guide's role and place
        words), once per process: the heading is a signal of what a section answers."""
        found = self._headings.get(key)
        if found is None:
            guide = self.guides[key]
            drop = guide_words(guide)
            headings = [s.heading for s in guide.sections]
            texts = [strip_words(h, drop) or h for h in headings]
            vectors = np.asarray(self.embedder.get_text_embedding_batch(texts), dtype=np.float32) \
                if texts else np.empty((0, 0), dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True) if texts else 1
            found = self._headings[key] = dict(zip(headings, vectors / np.where(norms == 0, 1, norms),
                                                   strict=True))
            if len(self._headings) > BM25_CACHE_SCOPES:
                self._headings.pop(next(iter(self._headings)))
        return found

    def heading_scores(self, key: str, embedding: list[float]) -> dict[str, float]:
        query = np.asarray(embedding, dtype=np.float32)
        query = query / (np.linalg.norm(query) or 1.0)
        return {heading: float(vector @ query) for heading, vector in self.heading_vectors(key).items()}

    def section_scores(self, key: str, embedding: list[float]) -> dict[str, float]:
        """Cosine of the query and each section's chunk (the best part of a long section): how
        well a section as a whole answers, next to each of its units alone."""
        dense = self._sections.get(key)
        if dense is None:
            nodes = self._guide_nodes(key)
            dense = self._sections[key] = ScopedDenseRetriever(
                self.store.chunk_vectors, (key,), len(nodes), self._nodes_by_id)
            if len(self._sections) > BM25_CACHE_SCOPES:
                self._sections.pop(next(iter(self._sections)))
        scores: dict[str, float] = {}
        for hit in ranked(dense, QueryBundle("", embedding=embedding)):
            if hit.score:
                section = hit.node.metadata["section"]
                scores[section] = max(scores.get(section, -1.0), 1.0 + math.log(hit.score))
        return scores

    def unit_scores(self, key: str, text: str, embedding: list[float]
                    ) -> tuple[list[TextNode], dict[str, float], dict[str, float]]:
        """A guide's units with each one's cosine to `embedding` and BM25 score for `text`."""
        dense, bm25 = self._unit_retrievers(key)
        bundle = QueryBundle(text, embedding=embedding)
        cosine = {hit.node.node_id: 1.0 + math.log(hit.score) for hit in ranked(dense, bundle)
                  if hit.score}
        keyword = {hit.node.node_id: float(hit.score or 0.0)
                   for hit in (ranked(bm25, bundle) if bm25 is not None and text.strip() else [])}
        return self.unit_nodes(key), cosine, keyword

    def _every_node_by_id(self) -> dict[str, TextNode]:
        if self._all_by_id is None:
            self._all_by_id = {cid: node for key in self.guides
                               for cid, node in self._nodes_by_id(key).items()}
        return self._all_by_id

    def _scope_nodes(self, scope: tuple[str, ...]) -> list[TextNode]:
        keys = scope or tuple(self.guides)
        return [node for key in keys for node in self._guide_nodes(key)]

    def _bm25_for(self, scope: tuple[str, ...]) -> BM25Retriever | None:
        if scope in self._bm25:
            self._bm25.move_to_end(scope)
            return self._bm25[scope]
        nodes = self._scope_nodes(scope)
        retriever = NodeBM25Retriever.from_defaults(
            nodes=nodes, similarity_top_k=min(self.top_k, len(nodes)), language="english"
        ) if nodes else None
        self._bm25[scope] = retriever
        if len(self._bm25) > BM25_CACHE_SCOPES:
            self._bm25.popitem(last=False)
        return retriever

    def _fusion_for(self, scope: tuple[str, ...], k: int) -> QueryFusionRetriever:
        key = (scope, k)
        fusion = self._fusion.get(key)
        if fusion is not None:
            self._fusion.move_to_end(key)
            return fusion
        dense: BaseRetriever = (
            ScopedDenseRetriever(self.store.chunk_vectors, scope, k, self._nodes_by_id) if scope
            else GuideNodeRetriever(self.index.as_retriever(similarity_top_k=k),
                                    self._every_node_by_id))
        retrievers = [dense]
        bm25 = self._bm25_for(scope)
        if bm25 is not None:
            retrievers.append(bm25)
        fusion = QueryFusionRetriever(
            retrievers, llm=self._llm, mode="reciprocal_rerank", num_queries=1,
            use_async=False, similarity_top_k=k,
        )
        self._fusion[key] = fusion
        if len(self._fusion) > FUSION_CACHE_SCOPES:
            self._fusion.popitem(last=False)
        return fusion

    def retrieve(self, question: str, guide_keys: list[str] | None = None,
                 embedding: list[float] | None = None, top_k: int | None = None
                 ) -> list[NodeWithScore]:
        """Fused results within `guide_keys` (all guides when None), best first."""
        scope = tuple(sorted(guide_keys)) if guide_keys else ()
        fusion = self._fusion_for(scope, top_k or self.top_k)
        bundle = QueryBundle(question, embedding=embedding or self.embed(question))
        return fusion.retrieve(bundle)
