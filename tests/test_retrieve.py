"""The keyword half of retrieval: `NodeBM25Retriever` against llama-index's `BM25Retriever`."""

from __future__ import annotations

import pytest
from llama_index.core.schema import QueryBundle
from llama_index.retrievers.bm25 import BM25Retriever

from assistant.chunks import unit_nodes
from assistant.corpus import load_corpus
from assistant.retrieve import NodeBM25Retriever, ranked
from conftest import SHIPPED_CORPUS


@pytest.mark.parametrize("question", [
    "what do senior backend developers earn",
    "which companies hire backend developers",
    "universities",
    "zzz nothing matches this",
])
def test_node_bm25_ranks_like_the_library_and_hands_back_the_scopes_own_nodes(question):
    guides, _errors = load_corpus(SHIPPED_CORPUS)
    nodes = unit_nodes(guides[0])
    ours = NodeBM25Retriever.from_defaults(nodes=nodes, similarity_top_k=len(nodes),
                                           language="english")
    library = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=len(nodes),
                                          language="english")
    bundle = QueryBundle(question)
    got, expected = ours.retrieve(bundle), library.retrieve(bundle)
    assert [(h.node.node_id, h.score) for h in got] == [(h.node.node_id, h.score) for h in expected]
    by_id = {node.node_id: node for node in nodes}
    assert all(hit.node is by_id[hit.node.node_id] for hit in got)  # not a copy from JSON


@pytest.mark.integration
@pytest.mark.parametrize("question", [
    "what do senior developers earn",
    "which companies hire here",
    "is it hard to hire",
])
def test_ranked_is_what_the_librarys_retrieve_returns(real_assistant, question):
    hybrid = real_assistant.retriever
    bundle = QueryBundle(question, embedding=hybrid.embed(question))
    for key in hybrid.guides:
        dense, bm25 = hybrid._unit_retrievers(key)
        hybrid.section_scores(key, bundle.embedding)  # builds the section retriever
        for retriever in (r for r in (dense, bm25, hybrid._sections[key]) if r is not None):
            assert [(h.node.node_id, h.score) for h in ranked(retriever, bundle)] == \
                [(h.node.node_id, h.score) for h in retriever.retrieve(bundle)]
