"""The question side of the embedder: a bounded cache of question vectors, then micro-batching.

`QueryEmbedder(inner, settings)` is a llama-index `BaseEmbedding` around the real embedder
(or a test's fake). A question's vector is looked up in an LRU cache keyed by the question's
normalised text (`QueryCache`); a miss goes through a `MicroBatcher`, so that the questions
of concurrent requests are embedded in one forward pass. Texts to index (chunks, headings)
go straight to the inner embedder: they come in batches already.

A miss that another thread is already embedding waits for that result (counted as
`shared`) instead of embedding the same question again.

The cache holds vectors only, never answers: every answer is still composed from the index.
Its key collapses whitespace, and lower-cases only when the inner embedder says its model
ignores case (`uncased`): two questions share a key only when the model would see the same
word pieces. Entries are float32 arrays (1.5 KB for 384 dimensions), so the default 4,096
entries cost about 6 MB.

This file does not load a model or read settings other than the ones passed in.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .batcher import MicroBatcher
from .settings import Settings

# A forward pass pads every text to the longest one's length: one 2,000-character question
# in a batch of short ones would make every question in it cost as much as the long one.
# Texts are grouped by length so that the longest of a group is at most this many times the
# shortest (plus a little slack for very short questions).
LENGTH_RATIO = 2.0
LENGTH_SLACK = 32


def length_groups(texts: list[str]) -> list[list[str]]:
    """`texts` sorted by length, cut where a text is much longer than its group's first."""
    groups: list[list[str]] = []
    for text in sorted(texts, key=len):
        if groups and len(text) <= len(groups[-1][0]) * LENGTH_RATIO + LENGTH_SLACK:
            groups[-1].append(text)
        else:
            groups.append([text])
    return groups


def cache_key(text: str, lowercase: bool) -> str:
    key = " ".join(text.split())
    return key.lower() if lowercase else key


class QueryCache:
    """A thread-safe LRU of normalised question text -> float32 vector, with hit counts."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must not be negative")
        self.capacity = capacity
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> list[float] | None:
        with self._lock:
            vector = self._entries.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        return vector.tolist()  # a fresh list: a caller cannot change the cached vector

    def put(self, key: str, vector: list[float]) -> None:
        if self.capacity == 0:
            return
        stored = np.asarray(vector, dtype=np.float32)
        stored.flags.writeable = False
        with self._lock:
            self._entries[key] = stored
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            looked_up = self.hits + self.misses
            return {"capacity": self.capacity, "size": len(self._entries), "hits": self.hits,
                    "misses": self.misses,
                    "hit_rate": round(self.hits / looked_up, 3) if looked_up else 0.0}


class QueryEmbedder(BaseEmbedding):
    """Cache -> micro-batcher -> `inner`, for questions; `inner` for everything else."""

    _inner: Any = PrivateAttr()
    _cache: QueryCache | None = PrivateAttr(default=None)
    _batcher: MicroBatcher | None = PrivateAttr(default=None)
    _lowercase: bool | None = PrivateAttr(default=None)
    _pending: dict[str, Future] = PrivateAttr(default_factory=dict)
    _pending_lock: Any = PrivateAttr(default_factory=threading.Lock)
    _shared: int = PrivateAttr(default=0)

    def __init__(self, inner: Any, *, cache_size: int = 4096, batching: bool = True,
                 max_batch: int = 32, max_wait_ms: float = 3.0, workers: int = 1) -> None:
        super().__init__(model_name=getattr(inner, "model_name", "unknown"),
                         embed_batch_size=getattr(inner, "embed_batch_size", 64))
        self._inner = inner
        self._cache = QueryCache(cache_size) if cache_size > 0 else None
        self._batcher = (MicroBatcher(self._embed_batch, max_batch=max_batch, max_wait_ms=max_wait_ms,
                                      name="query-embedding", workers=workers)
                         if batching else None)

    @classmethod
    def class_name(cls) -> str:
        return "QueryEmbedder"

    @property
    def inner(self) -> Any:
        return self._inner

    def answering(self) -> Any:
        """A context for one answer in progress (see `MicroBatcher.answering`)."""
        return self._batcher.answering() if self._batcher is not None else nullcontext()

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        # The same question twice in one batch is embedded once.
        found: dict[str, list[float]] = {}
        for group in length_groups(list(dict.fromkeys(texts))):
            if len(group) == 1:  # exactly the unbatched path
                vectors = [self._inner.get_query_embedding(group[0])]
            elif hasattr(self._inner, "embed_queries"):
                vectors = self._inner.embed_queries(group)
            else:
                vectors = [self._inner.get_query_embedding(text) for text in group]
            found.update(zip(group, vectors, strict=True))
        return [found[text] for text in texts]

    def get_query_embedding(self, query: str) -> list[float]:
        if self._lowercase is None:
            # Asked on the first question, not at construction: asking loads the model, and
            # a command that never embeds a question must not pay for that.
            self._lowercase = bool(getattr(self._inner, "uncased", False))
        if self._cache is None:
            return list(self._embed_one(query))
        key = cache_key(query, self._lowercase)
        vector = self._cache.get(key)
        if vector is not None:
            return vector
        # A miss already being embedded (the same question from concurrent requests: a
        # widget's example, a page shared at once) is waited for, not embedded again.
        with self._pending_lock:
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = Future()
            else:
                self._shared += 1
        if not owner:
            return list(pending.result())
        try:
            vector = self._embed_one(query)
            self._cache.put(key, vector)
            pending.set_result(vector)
        except BaseException as error:  # its waiters get the error; the next asker tries again
            pending.set_exception(error)
            raise
        finally:
            with self._pending_lock:
                del self._pending[key]
        return list(vector)

    def _embed_one(self, query: str) -> list[float]:
        if self._batcher is not None:
            return self._batcher.submit(query)
        return self._inner.get_query_embedding(query)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self.get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._inner.get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._inner.get_text_embedding_batch(texts)

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False,
                                 **kwargs: Any) -> list[list[float]]:
        return self._inner.get_text_embedding_batch(texts, show_progress=show_progress, **kwargs)

    def stats(self) -> dict[str, Any]:
        """What `/api/health` shows: the model's precision choice, cache and batch counts."""
        describe = getattr(self._inner, "describe", None)
        batching: dict[str, Any] = {"enabled": self._batcher is not None}
        if self._batcher is not None:
            batching |= {"max_batch": self._batcher.max_batch,
                         "max_wait_ms": round(self._batcher.max_wait * 1000, 3),
                         **self._batcher.stats.to_dict()}
        return {"model": describe() if describe else {"name": self.model_name},
                "batching": batching,
                "cache": ({**self._cache.stats(), "shared": self._shared}
                          if self._cache is not None else {"capacity": 0})}


def query_embedder(settings: Settings, inner: Any) -> QueryEmbedder:
    """The question-side embedder the settings ask for, around `inner`."""
    return QueryEmbedder(inner, cache_size=settings.query_cache_size,
                         batching=settings.embed_batching, max_batch=settings.embed_batch_max,
                         max_wait_ms=settings.embed_batch_wait_ms,
                         workers=settings.embed_batch_workers or os.cpu_count() or 1)


@contextmanager
def answering(embedder: Any) -> Iterator[None]:
    """`embedder.answering()` when it batches; nothing for a plain embedder."""
    context = getattr(embedder, "answering", None)
    with context() if context is not None else nullcontext():
        yield
