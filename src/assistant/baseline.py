"""The eval's baseline: plain llama-index retrieval, to show what the engine adds over it.

A `VectorStoreIndex` built the ordinary way (`VectorStoreIndex(nodes, storage_context=...)`)
over the same chunks (`guide_nodes`), the same embedding model and the same Chroma client as
the engine, in a collection of its own. It answers the final question of a case with its top
3 chunks joined — no routing, no conversation history, no BM25, no templates, no abstention.
It is scored with the same checks as the engine (`evaluate.py`). Nothing here is used to
answer real questions.
"""

from __future__ import annotations

import time
from typing import Any

from .chunks import section_nodes
from .corpus import Guide

COLLECTION = "eval_baseline_chunks"
ANSWER_CHUNKS = 3
ANSWER_SHOWN = 400  # characters of the joined chunks kept in the JSON report


class PlainBaseline:
    def __init__(self, client: Any, embedder: Any, guides: list[Guide], top_k: int) -> None:
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        # embedding_function=None: vectors come from our embedder, never Chroma's default.
        collection = client.get_or_create_collection(COLLECTION, embedding_function=None,
                                                     metadata={"hnsw:space": "cosine"})
        store = ChromaVectorStore(chroma_collection=collection)
        nodes = [node for guide in guides for node in section_nodes(guide)]
        self.index = VectorStoreIndex(nodes, storage_context=StorageContext.from_defaults(
            vector_store=store), embed_model=embedder)
        # The same depth as the engine's retrieval, so MRR compares like with like.
        self.retriever = self.index.as_retriever(similarity_top_k=max(top_k, ANSWER_CHUNKS))

    def retrieve(self, question: str) -> list:
        return self.retriever.retrieve(question)

    def run(self, case: Any, question: str, gold_ids: list[str] | None) -> dict:
        """The baseline's answer to `question`, scored like the engine's."""
        from .evaluate import fact_present, retrieval_scores, ungrounded_numbers

        started = time.perf_counter()
        retrieved = self.retrieve(question)
        latency = (time.perf_counter() - started) * 1000
        nodes = retrieved[:ANSWER_CHUNKS]
        text = "\n\n".join(hit.node.get_content() for hit in nodes)
        answer = {"answer": text, "abstained": False,
                  "sources": [{"quote": hit.node.get_content()} for hit in nodes]}
        hit = mrr = None
        if gold_ids:
            hit, mrr = retrieval_scores(lambda _q: retrieved, question, gold_ids)
        return {
            "answer": text[:ANSWER_SHOWN], "abstained": False,
            "missing_facts": [f for f in case.expected_facts if not fact_present(f, text)],
            "forbidden_found": [f for f in case.forbidden_facts if fact_present(f, text)],
            "ungrounded": ungrounded_numbers(answer), "hit_at_3": hit, "mrr": mrr,
            "latency_ms": round(latency, 2),
        }
