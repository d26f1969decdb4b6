"""The scale benchmark (issue 5): prints a table and JSON of measured figures next to targets.

    make bench                                   # or: .venv/bin/python eval/bench.py
    .venv/bin/python eval/bench.py --sizes 10,100 --runs 2 --skip-serve   # a quick look

Everything runs on synthetic guides (`assistant.generate`) written to a temporary folder,
indexed in embedded Chroma folders under it; traffic only goes to 127.0.0.1. Each figure is
the median of `--runs` runs (5), and each comparison is measured side by side in the same run
(interleaved, so a busy machine slows both sides alike):

- ingest throughput (chunks/s) of `assistant.index.ingest` next to raw
  `SentenceTransformer.encode` on the same chunk texts and next to llama-index's default
  `VectorStoreIndex.from_documents` path (default batching, default splitter, Chroma store)
  with the same model;
- a no-op re-ingest of the largest corpus;
- warm answer latency p50/p95 at each size next to the bare query-embedding time (the model's
  `encode` of the same question right after it, torch's default threads);
- routing accuracy on a sample of the largest corpus: does the answer quote that guide's own
  figures and cite only that guide;
- cold `assistant ask` and `assistant --help` wall times next to the bare imports;
- resident memory of `assistant serve` holding the largest index.

Precision (issue 13): our ingest runs in the precision the embedder chose
(`ASSISTANT_EMBED_PRECISION=auto`: bfloat16 only where the CPU computes it natively). Raw
encode and the default path run in float32 *and* bfloat16, and each is judged in its faster
precision on this CPU: the targets compare our ingest with the fastest path on the machine,
not with a side slowed down by an emulated precision. The bench prints the choice, its reason
and both precisions' raw-encode timings, and whether the choice was the faster one.
`--parts` runs only some parts (`--parts throughput` for the ingest comparison alone).

It is never part of `make test`: speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

for _name, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                      ("ANONYMIZED_TELEMETRY", "False"), ("GRADIO_ANALYTICS_ENABLED", "False")):
    os.environ.setdefault(_name, _value)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ASSISTANT = str(BIN / "assistant")
HEAVY_IMPORTS = "import torch, sentence_transformers, chromadb, llama_index.core"
PRECISIONS = ("float32", "bfloat16")
# A side this many times slower than the same path in the other precision, in the first run,
# is not timed in the later runs: it cannot be the faster one, and it is the slowest to time.
SLOWER_PRECISION = 1.5
PARTS = ("throughput", "build", "latency", "cli", "serve")
TEMPLATES = (
    "What does a senior {one} earn in {place}?",
    "Which companies hire {many} in {place}?",
    "What is the salary range for junior {many} in {place}?",
    "Which tech hubs are there for {many} in {place}?",
    "What tools do {many} in {place} use?",
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def med(values: list[float]) -> float:
    return statistics.median(values)


def one(role: str) -> str:
    return role[:-1] if role.endswith("s") else role


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wall(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, env={**os.environ, **(env or {})},
                            cwd=ROOT, timeout=600)
    return time.perf_counter() - started, result.returncode


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        from assistant.embeddings import default_embedder
        from assistant.model import QUERY_THREADS_BUSY
        from assistant.settings import Settings

        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
        self.torch = torch
        self.embedder = default_embedder(Settings())
        self.model = self.embedder.load()
        self.precision = self.embedder.precision
        # The model in each precision, for the raw-encode and default-path sides: each side is
        # judged in its faster precision on this CPU (ours is one of the two objects).
        self.models = {precision: (self.model if precision == self.precision else
                                   default_embedder(Settings(embed_precision=precision)).load())
                       for precision in PRECISIONS}
        self.model_float32 = self.models["float32"]
        self.batch_threads = torch.get_num_threads()
        self.busy_threads = QUERY_THREADS_BUSY
        self.batch_size = Settings().embed_batch_size
        self.results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "embed_precision": self.precision,
                        # why: the CPU's flags, the setting, or both timed at load (timings_ms)
                        "embed_precision_choice": self.embedder.describe(),
                        "torch_threads_batch": self.batch_threads,
                        "torch_threads_query": "all while the 1-min load average is below the "
                                               f"core count, else {self.busy_threads}",
                        "load_average_at_start": os.getloadavg()},
            "settings": {"sizes": args.sizes, "runs": args.runs,
                         "throughput_guides": args.throughput_guides,
                         "questions_per_size": args.questions, "accuracy_sample": args.sample},
        }
        self.indexes: dict[int, Path] = {}
        self.generated: dict[int, list] = {}
        choice = self.results["machine"]["embed_precision_choice"]
        log(f"precision: {choice.get('precision')} ({choice.get('reason')})"
            + (f"; timed ms {choice['timings_ms']}" if choice.get("timings_ms") else ""))

    # -- helpers -------------------------------------------------------------------------
    def settings(self, corpus: Path, index: Path):
        from assistant.settings import Settings

        return Settings(corpus=corpus, index=index)

    def corpus(self, n: int) -> Path:
        from assistant.generate import generate

        folder = self.work / f"corpus-{n}"
        if n not in self.generated:
            self.generated[n] = generate(n, folder)  # same seed: the first n of every size agree
        return folder

    # -- 1. ingest throughput ------------------------------------------------------------
    def throughput(self) -> None:
        from llama_index.core.schema import MetadataMode

        from assistant.chunks import guide_nodes
        from assistant.corpus import load_corpus
        from assistant.index import ingest

        n = self.args.throughput_guides
        corpus = self.corpus(n)
        guides, _ = load_corpus(corpus)
        texts = [node.get_content(metadata_mode=MetadataMode.EMBED)
                 for guide in guides for node in guide_nodes(guide)]
        # Ours in the precision it chose; raw encode and llama-index's default path in both,
        # each judged in its faster one: the targets compare with the fastest path there is.
        steps: dict[str, Any] = {"ours": None}
        for precision in PRECISIONS:
            steps[f"raw_{precision}"] = self.models[precision]
            steps[f"default_{precision}"] = self.models[precision]
        figures: dict[str, list[float]] = {name: [] for name in steps}
        log(f"throughput: {n} guides, {len(texts)} chunks, {self.args.runs} runs of "
            f"{len(steps)} paths (ours in {self.precision})")
        # Every path once, untimed, on a tenth of the texts: first-use costs (imports, Chroma's
        # first client, allocator growth) would otherwise land on whichever path runs first.
        warm = self.corpus(max(1, n // 10))
        self._ours(self.settings(warm, self.work / "tp-warm"), ingest)
        for name, model in steps.items():
            if name.startswith("raw"):
                self._raw(texts[: len(texts) // 10], model)
            elif name != "ours":
                self._llama_default(texts[: len(texts) // 10], f"{name}-warm", model)
        files = []
        once: dict[str, str] = {}  # a side timed in the first run only, and why
        for run in range(self.args.runs):
            order = list(steps)
            order = order[run % len(order):] + order[:run % len(order)]  # no path always first
            for name in order:
                if name in once:
                    figures[name].append(None)
                elif name == "ours":
                    index = self.work / f"tp-index-{run}"
                    figures[name].append(self._ours(self.settings(corpus, index), ingest))
                    self.indexes[n] = index
                elif name.startswith("raw"):
                    figures[name].append(self._raw(texts, steps[name]))
                else:
                    figures[name].append(self._llama_default(texts, f"{name}-{run}", steps[name]))
            files.append(self._llama_default_files(corpus, run))
            log(f"  run {run + 1} (load {os.getloadavg()[0]:.2f}): "
                + ", ".join(f"{name} {values[-1]:.1f}" for name, values in figures.items()
                            if values[-1] is not None)
                + f" chunks/s; default path on the files {files[-1]['guides_per_s']:.2f} guides/s")
            if run == 0:
                # A precision far slower than the other (bfloat16 where the CPU emulates it:
                # 3x) cannot be a path's faster one: timed once, it is not timed again.
                for path in ("raw", "default"):
                    first = {p: figures[f"{path}_{p}"][0] for p in PRECISIONS}
                    top = max(first, key=first.get)
                    for precision, value in first.items():
                        if value * SLOWER_PRECISION < first[top]:
                            once[f"{path}_{precision}"] = (f"{first[top] / value:.1f}x slower than "
                                                           f"{top} in run 1: not timed again")
        ours = figures["ours"]

        def timed(name: str) -> list[float]:
            return [value for value in figures[name] if value is not None]

        def faster(path: str) -> str:
            return max(PRECISIONS, key=lambda precision: med(timed(f"{path}_{precision}")))

        def ratio(path: str, precision: str | None = None) -> float:
            # Taken within each run (the sides measured minutes apart at most), then the
            # median: robust to the machine's load changing between runs. Without a
            # precision: against the path's faster precision in that run.
            sides = ([figures[f"{path}_{precision}"]] if precision
                     else [figures[f"{path}_{p}"] for p in PRECISIONS])
            per_run = [o / max(v for v in run if v is not None)
                       for o, *run in zip(ours, *sides, strict=True) if any(v is not None for v in run)]
            return round(med(per_run), 3)

        best_raw, best_default = faster("raw"), faster("default")
        self.results["ingest"] = {
            "guides": n, "chunks": len(texts), "precision": self.precision,
            "precision_choice": self.embedder.describe(),
            "precision_right": self.precision == best_raw,
            "ours_chunks_per_s": round(med(ours), 1),
            "raw_encode_best_precision": best_raw,
            "raw_encode_chunks_per_s": round(med(timed(f"raw_{best_raw}")), 1),
            "llama_index_default_best_precision": best_default,
            "llama_index_default_chunks_per_s": round(med(timed(f"default_{best_default}")), 1),
            "ours_vs_raw": ratio("raw"),
            "ours_vs_llama_index_default": ratio("default"),
            "by_precision": {precision: {
                "raw_encode_chunks_per_s": round(med(timed(f"raw_{precision}")), 1),
                "llama_index_default_chunks_per_s": round(med(timed(f"default_{precision}")), 1),
                "ours_vs_raw": ratio("raw", precision),
                "ours_vs_llama_index_default": ratio("default", precision)}
                for precision in PRECISIONS},
            "ours_guides_per_s": round(med(ours) * n / len(texts), 2),
            "llama_index_default_on_files": {
                "what": "SimpleDirectoryReader(corpus) -> VectorStoreIndex.from_documents, default "
                        "SentenceSplitter (1024 tokens: about one node per short guide), the "
                        "model in float32",
                "nodes": files[0]["nodes"],
                "guides_per_s": round(med([f["guides_per_s"] for f in files]), 2)},
            "runs": figures,
            "timed_once": once,
        }
        timed = self.results["ingest"]["by_precision"]
        log(f"precision: {self.precision} chosen ({self.embedder.describe().get('reason')}); "
            f"raw encode float32 {timed['float32']['raw_encode_chunks_per_s']}, bfloat16 "
            f"{timed['bfloat16']['raw_encode_chunks_per_s']} chunks/s: {best_raw} is faster here, "
            f"the choice is {'right' if self.precision == best_raw else 'WRONG'}")

    def _ours(self, settings, ingest) -> float:
        shutil.rmtree(settings.index, ignore_errors=True)
        report = ingest(settings, self.embedder)
        return report.added / report.seconds

    def _raw(self, texts: list[str], model: Any) -> float:
        self.torch.set_num_threads(self.batch_threads)
        started = time.perf_counter()
        model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                     show_progress_bar=False)
        return len(texts) / (time.perf_counter() - started)

    def _llama_default(self, texts: list[str], name: str, model: Any,
                       documents: list | None = None, timed: bool = True) -> float:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from llama_index.core import Document, StorageContext, VectorStoreIndex
        from llama_index.core.base.embeddings.base import BaseEmbedding
        from llama_index.vector_stores.chroma import ChromaVectorStore

        class PlainSentenceTransformer(BaseEmbedding):
            """The same model behind llama-index's default embedding plumbing (batches of
            `embed_batch_size`, default 10), as `HuggingFaceEmbedding` would wrap it."""

            def _get_query_embedding(self, query: str) -> list[float]:
                return model.encode([query], normalize_embeddings=True)[0].tolist()

            async def _aget_query_embedding(self, query: str) -> list[float]:
                return self._get_query_embedding(query)

            def _get_text_embedding(self, text: str) -> list[float]:
                return self._get_query_embedding(text)

            def _get_text_embeddings(self, batch: list[str]) -> list[list[float]]:
                return model.encode(batch, batch_size=len(batch), normalize_embeddings=True,
                                    show_progress_bar=False).tolist()

        self.torch.set_num_threads(self.batch_threads)
        client = chromadb.PersistentClient(path=str(self.work / name),
                                           settings=ChromaSettings(anonymized_telemetry=False))
        collection = client.get_or_create_collection("llama_default", embedding_function=None,
                                                     metadata={"hnsw:space": "cosine"})
        storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
        documents = documents if documents is not None else [Document(text=text) for text in texts]
        started = time.perf_counter()
        VectorStoreIndex.from_documents(documents, storage_context=storage,
                                        embed_model=PlainSentenceTransformer())
        seconds = time.perf_counter() - started
        count = collection.count()
        return count / seconds if timed else count

    def _llama_default_files(self, corpus: Path, run: int) -> dict[str, float]:
        """The default path as a llama-index user would run it: the guide files as documents."""
        from llama_index.core import SimpleDirectoryReader

        documents = SimpleDirectoryReader(str(corpus)).load_data()
        texts = [document.get_content() for document in documents]
        started = time.perf_counter()
        count = self._llama_default(texts, f"lf-{run}", self.model_float32, documents=documents,
                                    timed=False)
        seconds = time.perf_counter() - started
        return {"nodes": count, "guides_per_s": len(documents) / seconds}

    # -- 2. indexes at every size, no-op re-ingest ---------------------------------------
    def build(self) -> None:
        from assistant.index import ingest

        builds = {}
        for n in self.args.sizes:
            corpus = self.corpus(n)
            if n in self.indexes:
                continue
            index = self.work / f"index-{n}"
            log(f"build: ingesting {n} guides")
            report = ingest(self.settings(corpus, index), self.embedder)
            builds[n] = {"chunks": report.added, "seconds": round(report.seconds, 1),
                         "chunks_per_s": round(report.added / report.seconds, 1)}
            self.indexes[n] = index
            log(f"  {report.summary()}")
        self.results["builds"] = builds
        largest = max(self.args.sizes)
        times, writes = [], []
        for _ in range(self.args.runs):
            report = ingest(self.settings(self.corpus(largest), self.indexes[largest]), self.embedder)
            times.append(report.seconds)
            writes.append(report.writes)
        self.results["noop_reingest"] = {"guides": largest, "seconds": round(med(times), 3),
                                         "runs": [round(t, 3) for t in times], "writes": writes}
        log(f"no-op re-ingest of {largest} guides: {med(times):.2f} s (writes {writes})")

    # -- 3. answer latency and routing accuracy ------------------------------------------
    def questions(self, n: int, count: int) -> list[str]:
        guides = list(self.generated[n])
        random.Random(n).shuffle(guides)
        picked = [guides[i % len(guides)] for i in range(count)]
        return [TEMPLATES[i % len(TEMPLATES)].format(one=one(g.role), many=g.role, place=g.place)
                for i, g in enumerate(picked)]

    def latency(self) -> None:
        from assistant.chat import Assistant

        self.results["latency"] = {}
        for n in self.args.sizes:
            self.corpus(n)
            assistant = Assistant(self.settings(self.corpus(n), self.indexes[n]), embedder=self.embedder)
            questions = self.questions(n, self.args.questions)
            for question in ("hello", "What can you do?"):  # warm the process, not the guides
                assistant.ask(question)
            passes: list[list[float]] = []
            bare: list[float] = []
            bare_float32: list[float] = []
            own: list[float] = []
            abstained = 0
            for run in range(self.args.runs):
                times = []
                for question in questions:
                    started = time.perf_counter()
                    answer = assistant.ask(question)
                    times.append((time.perf_counter() - started) * 1000)
                    abstained += answer.abstained and run == 0
                    # The bare embedding of the same question, right after it, with torch's
                    # default threads (all cores): what a plain `encode` call costs.
                    self.torch.set_num_threads(self.batch_threads)
                    started = time.perf_counter()
                    self.model.encode([question], normalize_embeddings=True, show_progress_bar=False)
                    bare.append((time.perf_counter() - started) * 1000)
                    if run == 0:  # beside it, once: the model as it ships, and our own path
                        started = time.perf_counter()
                        self.model_float32.encode([question], normalize_embeddings=True,
                                                  show_progress_bar=False)
                        bare_float32.append((time.perf_counter() - started) * 1000)
                        started = time.perf_counter()
                        self.embedder.get_query_embedding(question)
                        own.append((time.perf_counter() - started) * 1000)
                        self.torch.set_num_threads(self.batch_threads)
                passes.append(times)
            warm = [t for times in passes[1:] for t in times] or passes[0]
            self.torch.set_num_threads(self.busy_threads)
            bare_one_thread = []
            for question in questions[:50]:
                started = time.perf_counter()
                self.model.encode([question], normalize_embeddings=True, show_progress_bar=False)
                bare_one_thread.append((time.perf_counter() - started) * 1000)
            self.torch.set_num_threads(self.batch_threads)
            entry = {
                "questions": len(questions), "abstained_in_first_pass": int(abstained),
                "warm_p50_ms": round(med(warm), 2), "warm_p95_ms": round(pct(warm, 0.95), 2),
                "first_pass_p50_ms": round(med(passes[0]), 2),
                "first_pass_p95_ms": round(pct(passes[0], 0.95), 2),
                "bare_embed_p50_ms": round(med(bare), 2), "bare_embed_p95_ms": round(pct(bare, 0.95), 2),
                "bare_embed_one_thread_p50_ms": round(med(bare_one_thread), 2),
                "bare_embed_float32_p50_ms": round(med(bare_float32), 2),
                "own_query_embed_p50_ms": round(med(own), 2),
                "load_average": os.getloadavg(),
                "warm_p50_over_bare_p50": round(med(warm) / med(bare), 3),
            }
            self.results["latency"][str(n)] = entry
            log(f"latency at {n} guides: {entry}")
            if n == max(self.args.sizes):
                self.accuracy(assistant, n)
            del assistant

    def accuracy(self, assistant, n: int) -> None:
        sample = random.Random(7).sample(self.generated[n], min(self.args.sample, n))
        salary_ok = employers_ok = 0
        failures = []
        for guide in sample:
            question = f"What does a senior {one(guide.role)} earn in {guide.place}?"
            answer = assistant.ask(question)
            cited = {source.file.rsplit("/", 1)[-1] for source in answer.sources}
            if (not answer.abstained and guide.salaries["Senior"] in answer.answer
                    and cited == {guide.path.name}):
                salary_ok += 1
            else:
                failures.append({"question": question, "answer": answer.answer, "cited": sorted(cited)})
            question = f"Which companies hire {guide.role} in {guide.place}?"
            answer = assistant.ask(question)
            cited = {source.file.rsplit("/", 1)[-1] for source in answer.sources}
            if (not answer.abstained and all(c in answer.answer for c in guide.companies)
                    and cited == {guide.path.name}):
                employers_ok += 1
            else:
                failures.append({"question": question, "answer": answer.answer, "cited": sorted(cited)})
        self.results["routing_accuracy"] = {
            "guides_indexed": n, "sample": len(sample),
            "salary_figures": round(salary_ok / len(sample), 4),
            "employer_lists": round(employers_ok / len(sample), 4),
            "failures": failures[:20],
        }
        log(f"routing accuracy: salary {salary_ok}/{len(sample)}, employers {employers_ok}/{len(sample)}")

    # -- 4. CLI start-up -----------------------------------------------------------------
    def cli(self) -> None:
        largest = max(self.args.sizes)
        env = {"ASSISTANT_INDEX": str(self.indexes[largest])}
        guide = self.generated[largest][0]
        question = f"What does a senior {one(guide.role)} earn in {guide.place}?"
        commands = {
            "assistant_help": [ASSISTANT, "--help"],
            "python_startup": [sys.executable, "-c", "pass"],
            "import_assistant_cli": [sys.executable, "-c", "import assistant.cli"],
            "assistant_ask_cold": [ASSISTANT, "ask", question],
            "import_heavy_libraries": [sys.executable, "-c", HEAVY_IMPORTS],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        codes: dict[str, set[int]] = {name: set() for name in commands}
        for _ in range(self.args.runs):
            for name, command in commands.items():
                seconds, code = wall(command, env)
                times[name].append(seconds)
                codes[name].add(code)
        self.results["cli"] = {name: {"seconds": round(med(values), 3), "exit_codes": sorted(codes[name])}
                               for name, values in times.items()}
        log(f"cli: { {name: entry['seconds'] for name, entry in self.results['cli'].items()} }")

    # -- 5. serve memory -----------------------------------------------------------------
    def serve_memory(self) -> None:
        largest = max(self.args.sizes)
        process, base = start_serve(self.indexes[largest])
        try:
            after_start = memory_kib(process.pid)["VmRSS"]
            asked = 0
            for question in self.questions(largest, 40):
                request = urllib.request.Request(
                    f"{base}/api/ask", data=json.dumps({"question": question, "history": []}).encode(),
                    headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=60) as reply:
                    asked += reply.status == 200
            after = memory_kib(process.pid)
            self.results["serve_memory"] = {
                "measured": "VmRSS of the `assistant serve` process tree from /proc",
                "guides_indexed": largest, "rss_mb_after_start": round(after_start / 1024, 1),
                "rss_mb_after_40_questions": round(after["VmRSS"] / 1024, 1),
                "peak_mb": round(after["VmHWM"] / 1024, 1), "answered": asked,
            }
            log(f"serve memory: {self.results['serve_memory']}")
        finally:
            stop_serve(process)

    # -- report --------------------------------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        r = self.results
        rows: list[dict[str, Any]] = []

        def row(metric: str, value: Any, beside: str, target: str, ok: bool | None) -> None:
            rows.append({"metric": metric, "value": value, "beside": beside, "target": target,
                         "met": ok})

        if "ingest" in r:
            i = r["ingest"]
            p, raw, default = (i["precision"], i["raw_encode_best_precision"],
                               i["llama_index_default_best_precision"])
            timed = i["by_precision"]
            row("embedding precision", p,
                "raw encode " + ", ".join(f"{q} {timed[q]['raw_encode_chunks_per_s']}"
                                         for q in PRECISIONS) + " chunks/s; default path "
                + ", ".join(f"{q} {timed[q]['llama_index_default_chunks_per_s']}" for q in PRECISIONS),
                "the faster one", i["precision_right"])
            row(f"ingest chunks/s ({i['chunks']} chunks, {p})", i["ours_chunks_per_s"],
                f"raw encode {raw} {i['raw_encode_chunks_per_s']} (x{i['ours_vs_raw']} per run)",
                ">= 0.80x raw encode", i["ours_vs_raw"] >= 0.8)
            row("ingest vs llama-index default", f"x{i['ours_vs_llama_index_default']}",
                f"default path {default} {i['llama_index_default_chunks_per_s']} chunks/s",
                ">= 1.5x default path", i["ours_vs_llama_index_default"] >= 1.5)
            f = i["llama_index_default_on_files"]
            row("ingest guides/s", i["ours_guides_per_s"],
                f"default path on the files {f['guides_per_s']} ({f['nodes']} nodes)", "-", None)
        if "noop_reingest" in r:
            x = r["noop_reingest"]
            row(f"no-op re-ingest, {x['guides']} guides", f"{x['seconds']} s",
                f"writes {x['writes']}", "<= 2 s", x["seconds"] <= 2)
        largest = str(max(self.args.sizes))
        for n, e in r.get("latency", {}).items():
            row(f"answer p50 warm, {n} guides", f"{e['warm_p50_ms']} ms",
                f"bare embed p50 {e['bare_embed_p50_ms']} ms (x{e['warm_p50_over_bare_p50']}); "
                f"float32 {e['bare_embed_float32_p50_ms']}, ours {e['own_query_embed_p50_ms']}",
                "<= 1.5x bare embed" if n == largest else "-",
                e["warm_p50_over_bare_p50"] <= 1.5 if n == largest else None)
            row(f"answer p95 warm, {n} guides", f"{e['warm_p95_ms']} ms",
                f"first pass p50/p95 {e['first_pass_p50_ms']}/{e['first_pass_p95_ms']} ms",
                "<= 50 ms" if n == largest else "-", e["warm_p95_ms"] <= 50 if n == largest else None)
        if "routing_accuracy" in r:
            a = r["routing_accuracy"]
            row(f"routing accuracy, {a['sample']} of {a['guides_indexed']} guides",
                f"{a['salary_figures']:.1%}", f"employer lists {a['employer_lists']:.1%}",
                ">= 99 %", a["salary_figures"] >= 0.99)
        if "cli" in r:
            c = r["cli"]
            row("assistant --help", f"{c['assistant_help']['seconds']} s",
                f"python -c pass {c['python_startup']['seconds']} s, import assistant.cli "
                f"{c['import_assistant_cli']['seconds']} s", "< 1 s", c["assistant_help"]["seconds"] < 1)
            row("assistant ask (cold)", f"{c['assistant_ask_cold']['seconds']} s",
                f"bare heavy imports {c['import_heavy_libraries']['seconds']} s", "-", None)
        if "serve_memory" in r and "peak_mb" in r["serve_memory"]:
            s = r["serve_memory"]
            row(f"assistant serve RSS, {s['guides_indexed']} guides", f"{s['rss_mb_after_40_questions']} MB",
                f"after start {s['rss_mb_after_start']} MB, peak {s['peak_mb']} MB", "<= 1024 MB",
                s["peak_mb"] <= 1024)
        return rows

    def report(self) -> None:
        self.results["machine"]["load_average_at_end"] = os.getloadavg()
        rows = self.table()
        self.results["table"] = rows
        header = ("metric", "value", "measured beside it", "target", "met")
        keys = ("metric", "value", "beside", "target")
        widths = [max([len(title)] + [len(str(row[key])) for row in rows])
                  for title, key in zip(header, keys, strict=False)]
        fmt = "  ".join(f"{{:<{w}}}" for w in [*widths, 4])
        print()
        if rows:
            print(fmt.format(*header))
            for row in rows:
                met = "-" if row["met"] is None else ("yes" if row["met"] else "NO")
                print(fmt.format(row["metric"], str(row["value"]), row["beside"], row["target"], met))
        print(f"\nload average start {self.results['machine']['load_average_at_start']}, "
              f"end {self.results['machine']['load_average_at_end']} on {os.cpu_count()} CPUs")
        if max(self.results["machine"]["load_average_at_end"]) > (os.cpu_count() or 1):
            print("note: other work loaded the machine during the run; ingest figures in "
                  "particular swing with it (see the per-run values in the JSON)")
        print(json.dumps(self.results, ensure_ascii=False, indent=1))
        if self.args.json:
            self.args.json.parent.mkdir(parents=True, exist_ok=True)
            self.args.json.write_text(json.dumps(self.results, ensure_ascii=False, indent=1))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(index: Path | None, env: dict[str, str] | None = None,
                timeout: float = 300) -> tuple[subprocess.Popen, str]:
    """`assistant serve` on a free loopback port, returned once `/api/health` answers 200.
    Its own session, so `stop_serve` ends the whole process tree."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [ASSISTANT, "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command + (["--index", str(index)] if index else []), cwd=ROOT,
                               env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"assistant serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as reply:
                if reply.status == 200:
                    return process, url
        except OSError:
            pass
        time.sleep(0.5)
    stop_serve(process)
    raise RuntimeError(f"assistant serve did not come up in {timeout:.0f} s")


def stop_serve(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 9)
    process.wait(timeout=30)


def _proc_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) in KiB, summed over `pid` and its descendants, from /proc."""
    totals = {"VmRSS": 0, "VmHWM": 0}
    for member in _proc_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in totals:
                    totals[key] += int(value.split()[0])
        except OSError:
            continue
    return totals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda s: sorted({int(x) for x in s.split(",")}),
                        default=[10, 100, 1000], help="corpus sizes for latency (default 10,100,1000)")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--throughput-guides", type=int, default=100,
                        help="guides in the side-by-side ingest throughput runs")
    parser.add_argument("--questions", type=int, default=100, help="latency questions per size")
    parser.add_argument("--sample", type=int, default=200, help="guides in the routing sample")
    parser.add_argument("--skip-serve", action="store_true", help="skip the serve-memory figure")
    parser.add_argument("--parts", type=lambda s: [p for p in s.split(",") if p], default=list(PARTS),
                        help=f"which parts to run (default all: {','.join(PARTS)}); build, "
                             "latency and cli need build, which needs nothing else")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown --parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    bench = Bench(args)
    log(f"work folder {bench.work}")
    try:
        if "throughput" in args.parts:
            bench.throughput()
        if {"build", "latency", "cli", "serve"} & set(args.parts):
            bench.build()
        if "latency" in args.parts:
            bench.latency()
        if "cli" in args.parts:
            bench.cli()
        if "serve" in args.parts and not args.skip_serve:
            try:
                bench.serve_memory()
            except Exception as error:  # report, don't lose the other figures
                bench.results["serve_memory"] = {"error": f"{error.__class__.__name__}: {error}"}
        bench.report()
    finally:
        if not args.keep:
            shutil.rmtree(bench.work, ignore_errors=True)


if __name__ == "__main__":
    main()
