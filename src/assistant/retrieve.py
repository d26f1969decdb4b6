"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank, within chosen guides.

Built from llama-index parts: a `VectorIndexRetriever` over the `ChromaVectorStore` with a
metadata filter on the guide, a `BM25Retriever` over the same guides' chunks (rebuilt from
the parsed guides, cached per scope), and a `QueryFusionRetriever` with `num_queries=1` and
an explicit `MockLLM`, so no query rewriting and no hosted model. The query is embedded once
by the caller and passed in the `QueryBundle`. This module does not decide what to answer.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
from llama_index.retrievers.bm25 import BM25Retriever

from .chunks import guide_nodes
from .corpus import Guide

# bm25s logs a warning for every scope smaller than top_k; the scope size is known here.
logging.getLogger("llama_index.retrievers.bm25").setLevel(logging.ERROR)
BM25_CACHE_SCOPES = 512


class HybridRetriever:
    def __init__(self, vector_store: Any, embedder: Any, guides: list[Guide], top_k: int) -> None:
        self.embedder = embedder
        self.top_k = top_k
        self.guides = {guide.key: guide for guide in guides}
        self.index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embedder)
        self._llm = MockLLM()
        self._bm25: OrderedDict[tuple[str, ...], BM25Retriever | None] = OrderedDict()

    def embed(self, text: str) -> list[float]:
        return self.embedder.get_query_embedding(text)

    def _scope_nodes(self, scope: tuple[str, ...]) -> list[TextNode]:
        keys = scope or tuple(self.guides)
        return [node for key in keys for node in guide_nodes(self.guides[key])]

    def _bm25_for(self, scope: tuple[str, ...]) -> BM25Retriever | None:
        if scope in self._bm25:
            self._bm25.move_to_end(scope)
            return self._bm25[scope]
        nodes = self._scope_nodes(scope)
        retriever = BM25Retriever.from_defaults(
            nodes=nodes, similarity_top_k=min(self.top_k, len(nodes)), language="english"
        ) if nodes else None
        self._bm25[scope] = retriever
        if len(self._bm25) > BM25_CACHE_SCOPES:
            self._bm25.popitem(last=False)
        return retriever

    def retrieve(self, question: str, guide_keys: list[str] | None = None,
                 embedding: list[float] | None = None, top_k: int | None = None
                 ) -> list[NodeWithScore]:
        """Fused results within `guide_keys` (all guides when None), best first."""
        scope = tuple(sorted(guide_keys)) if guide_keys else ()
        k = top_k or self.top_k
        filters = None
        if scope:
            filters = MetadataFilters(filters=[
                MetadataFilter(key="guide", value=scope[0]) if len(scope) == 1 else
                MetadataFilter(key="guide", value=list(scope), operator=FilterOperator.IN)
            ])
        retrievers = [self.index.as_retriever(similarity_top_k=k, filters=filters)]
        bm25 = self._bm25_for(scope)
        if bm25 is not None:
            retrievers.append(bm25)
        fusion = QueryFusionRetriever(
            retrievers, llm=self._llm, mode="reciprocal_rerank", num_queries=1,
            use_async=False, similarity_top_k=k,
        )
        bundle = QueryBundle(question, embedding=embedding or self.embed(question))
        return fusion.retrieve(bundle)
