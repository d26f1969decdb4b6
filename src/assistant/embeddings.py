"""The embedding model as llama-index sees it: a `BaseEmbedding` over the packaged model
(`model.py` loads it, chooses its precision and runs it), so the vector index and the
retrievers use it directly. Vectors are L2-normalised in float32 (cosine = dot product)
whatever precision the model computes in. An ingest's many texts go through `embed_texts`:
sentence-transformers' batches, run by one worker per core (see there).

`ProcessEmbedding` is the same model running in a `model.ModelProcess` beside a one-shot
command, which meanwhile imports llama-index and opens the index (`assistant ask`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .model import (
    MAX_INGEST_WORKERS,
    MODEL_NAME,
    ModelProcess,
    PrecisionChoice,
    QueryForward,
    load_model,
    packaged_model_path,
    query_threads,
    set_threads,
    uncased,
)
from .settings import Settings

log = logging.getLogger(__name__)


class SentenceTransformerEmbedding(BaseEmbedding):
    """A llama-index embedding backed by a local sentence-transformers model folder."""

    _model: Any = PrivateAttr(default=None)
    _path: Path = PrivateAttr()
    _batch_threads: int = PrivateAttr(default=0)
    _precision: str = PrivateAttr(default="auto")
    _choice: PrecisionChoice | None = PrivateAttr(default=None)
    _trace: bool = PrivateAttr(default=True)
    _query_forward: QueryForward | None = PrivateAttr(default=None)
    _tracing: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, model_path: Path, batch_size: int = 64, precision: str = "auto",
                 trace: bool = True) -> None:
        super().__init__(model_name=MODEL_NAME, embed_batch_size=batch_size)
        self._path = model_path
        self._precision = precision
        self._trace = trace

    @property
    def precision(self) -> str:
        """The precision the model computes in ("float32" or "bfloat16"); loads the model."""
        import torch

        return "bfloat16" if next(self.load().parameters()).dtype == torch.bfloat16 else "float32"

    def load(self) -> Any:
        """Load the model on first use: a no-op re-ingest never pays for it."""
        if self._model is None:
            import torch

            self._model, self._choice = load_model(self._path, self._precision)
            self._batch_threads = torch.get_num_threads()
        return self._model

    @property
    def uncased(self) -> bool:
        """Whether the model's tokenizer lower-cases (then "Leuven" and "leuven" are one
        question to it); loads the model."""
        return uncased(self.load())

    def describe(self) -> dict[str, Any]:
        """The model and its precision choice, without loading it."""
        described: dict[str, Any] = {"name": MODEL_NAME, "loaded": self._model is not None}
        if self._choice is not None:
            described |= self._choice.to_dict()
        if self._query_forward is not None:
            described["query_pass"] = self._query_forward.reason
        return described

    def _threads(self, count: int) -> None:
        set_threads(count)

    @classmethod
    def class_name(cls) -> str:
        return "SentenceTransformerEmbedding"

    def _query_threads(self) -> int:
        return query_threads(self._batch_threads)

    def encode(self, texts: list[str]) -> list[list[float]]:
        if len(texts) == 1:
            return [self.embed_one(texts[0])]
        return self.embed_texts(texts).tolist()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Many texts (an ingest's chunks) as unit vectors, float32, one row per text.

        The batches are the ones `SentenceTransformer.encode` makes (the texts sorted by
        length, longest first, `embed_batch_size` at a time), so the vectors are the ones it
        returns (bit for bit on this project's machine). They run on worker threads, one per
        core (past MAX_INGEST_WORKERS, sharing the cores), each taking the next batch and
        running it with one torch thread, instead of one batch at a time on every core:
        torch's threads wait for each other at every operation, so where other processes
        share the cores a batch runs at the pace of its most descheduled thread.
        Interleaved in one run on this project's 2 cores at load 3.8-5.7: 2 torch threads
        32-35 texts/s, 2 workers 50-82 texts/s.
        A worker's failure is raised here, never left as an unfilled row.
        """
        import torch

        model = self.load()
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        # sentence-transformers' own order (argsort of minus the length in characters).
        order = np.argsort([-len(text) for text in texts])
        batches = [order[start:start + self.embed_batch_size]
                   for start in range(0, len(order), self.embed_batch_size)]
        done: list[Any] = [None] * len(batches)
        failed: list[BaseException] = []
        pending = iter(enumerate(batches))
        # One lock for the shared queue and the tokenizer: a fast tokenizer's padding and
        # truncation settings are state on one shared object, not safe to change from two
        # threads at once (huggingface/tokenizers#537). Tokenizing is ~1 % of the time.
        take = threading.Lock()

        def run(threads: int) -> None:
            self._threads(threads)
            try:
                while not failed:
                    with take:
                        number, batch = next(pending, (None, None))
                        if batch is None:
                            return
                        features = model.preprocess([texts[i] for i in batch])
                    with torch.inference_mode():
                        done[number] = model(features)["sentence_embedding"].float()
            except BaseException as error:  # re-raised by the caller, not lost in a thread
                failed.append(error)

        workers = min(self._ingest_workers(), len(batches))
        if workers <= 1:
            run(self._batch_threads)
        else:
            # One torch thread each, or a share of the cores past MAX_INGEST_WORKERS of them.
            each = max(1, self._batch_threads // workers)
            threads = [threading.Thread(target=run, args=(each,), name=f"embed-{n}", daemon=True)
                       for n in range(workers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            # torch keeps a thread count per OS thread; the next caller gets every core back.
            torch.set_num_threads(self._batch_threads)
        if failed:
            raise failed[0]
        vectors = torch.empty((len(texts), done[0].shape[1]), dtype=torch.float32)
        vectors[torch.from_numpy(order)] = torch.cat(done)
        # Normalised in float32: a bfloat16 norm is off by up to ~0.4 %.
        return torch.nn.functional.normalize(vectors, dim=1).numpy()

    def _ingest_workers(self) -> int:
        return max(1, min(self._batch_threads, MAX_INGEST_WORKERS))

    def _queries(self) -> QueryForward:
        """The question pass (`model.QueryForward`), traced on the first question."""
        if self._query_forward is None:
            with self._tracing:  # the first questions of a burst would each trace it
                if self._query_forward is None:
                    self._query_forward = QueryForward(self.load(), trace=self._trace)
        return self._query_forward

    def embed_one(self, text: str) -> list[float]:
        """One text through the model's own `preprocess` and the question pass."""
        queries = self._queries()
        self._threads(self._query_threads())
        return queries([text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Several questions in one forward pass (the server's micro-batches), with the
        query thread policy. Each vector matches `embed_one`'s of the same text: to ~1e-7 in
        float32, and bit for bit in bfloat16, where a pass per token length keeps padding
        (which moves a bfloat16 vector by up to ~5e-5) out (`QueryForward.by_length`)."""
        queries = self._queries()
        self._threads(self._query_threads())
        return queries.by_length(texts)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed_one(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed_one(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts)

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False,
                                 **kwargs: Any) -> list[list[float]]:
        # One `encode` over the whole list instead of llama-index's slices of
        # `embed_batch_size`: sentence-transformers sorts the texts by length before batching,
        # so batches carry little padding (measured ~1.3x faster on a mixed-length ingest).
        return self.encode(list(texts)) if texts else []

    def get_query_embedding(self, query: str) -> list[float]:
        # Straight to the model: llama-index's wrapper adds events and callbacks per query,
        # which nothing here listens to.
        return self.embed_one(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def default_embedder(settings: Settings) -> BaseEmbedding:
    path = settings.embed_model_path or packaged_model_path()
    return SentenceTransformerEmbedding(path, batch_size=settings.embed_batch_size,
                                        precision=settings.embed_precision,
                                        trace=settings.embed_trace)


class ProcessEmbedding(BaseEmbedding):
    """Questions embedded by the packaged model in a `ModelProcess` (a one-shot command):
    the same vectors as `SentenceTransformerEmbedding`'s, from another process."""

    _process: ModelProcess = PrivateAttr()

    def __init__(self, process: ModelProcess, batch_size: int = 64) -> None:
        super().__init__(model_name=MODEL_NAME, embed_batch_size=batch_size)
        self._process = process

    @classmethod
    def class_name(cls) -> str:
        return "ProcessEmbedding"

    def load(self) -> dict[str, Any]:
        """Wait for the process to have loaded the model."""
        return self._process.ready()

    @property
    def uncased(self) -> bool:
        return bool(self._process.ready()["uncased"])

    def describe(self) -> dict[str, Any]:
        ready = self._process.ready()
        return {"name": MODEL_NAME, "loaded": True, "process": "separate",
                **{key: ready[key] for key in ("precision", "reason", "timings_ms")}}

    def close(self) -> None:
        self._process.close()

    def embed_one(self, text: str) -> list[float]:
        return self._process.embed([text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self._process.embed(texts)

    def get_query_embedding(self, query: str) -> list[float]:
        return self.embed_one(query)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed_one(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self.embed_one(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed_one(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._process.embed(texts)

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False,
                                 **kwargs: Any) -> list[list[float]]:
        return self._process.embed(list(texts)) if texts else []
