"""Issue 11's faulty corpus, ingested the way a user would: wall time, skipped files, an answer.

    make ingest-faults         # or: .venv/bin/python eval/ingest_faults.py [--sections N] [--big-mb M]

A temp `corpus/` holds the shipped guide, a generated guide of `--sections` sections (6,000:
about 12,000 chunks, over Chroma's 5,461-record batch limit), a `--big-mb` file (20 MB) and a
`.md` whose front matter holds a date (`url: 2024-01-01`). `assistant ingest` runs on it as a
subprocess (model load included) into a temp index; then `assistant ask` asks the shipped
guide's done-when question. Prints the figures; measures only, asserts nothing (the target
is under 2 minutes on 2 cores). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSISTANT = str(Path(sys.executable).parent / "assistant")
SEED = ROOT / "corpus" / "backend-developers-in-leuven.txt"
QUESTION = "What does a senior backend developer earn in Leuven?"
SENIOR_RANGE = "€61,800 – €87,550"


def many_sections_guide(sections: int) -> str:
    """A .txt export with `sections` bare-line headings, one sentence each (2 chunks each)."""
    lines = ["Recruiting QA Engineers in Ghent", ""]
    for i in range(sections):
        lines += [f"Team {i:04d} Practices", "",
                  f"Team {i} runs {i % 40 + 3} nightly regression suites before each release.", ""]
    return "\n".join(lines)


def big_file(megabytes: float) -> str:
    """A giant export: the seed's body repeated under one title, `megabytes` MB of text."""
    body = SEED.read_text(encoding="utf-8").split("\n", 1)[1]
    target = int(megabytes * 1_000_000)
    return "Recruiting Backend Developers in Antwerp\n" + body * (target // len(body.encode()) + 1)


BAD_FRONT_MATTER = """---
role: Data Engineers
city: Ghent
url: 2024-01-01
---
# Recruiting Data Engineers in Ghent

## Salary Ranges

| Level | Gross Annual Salary |
|---|---|
| Senior | €70,000 – €90,000 |
"""


def build_corpus(folder: Path, sections: int, megabytes: float) -> dict[str, int]:
    folder.mkdir(parents=True)
    shutil.copy(SEED, folder / SEED.name)
    (folder / "qa-engineers-in-ghent.txt").write_text(many_sections_guide(sections), encoding="utf-8")
    (folder / "backend-developers-in-antwerp.txt").write_text(big_file(megabytes), encoding="utf-8")
    (folder / "data-engineers-in-ghent.md").write_text(BAD_FRONT_MATTER, encoding="utf-8")
    return {path.name: path.stat().st_size for path in sorted(folder.iterdir())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", type=int, default=6000)
    parser.add_argument("--big-mb", type=float, default=20.0)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ingest-faults-"))
    try:
        sizes = build_corpus(work / "corpus", args.sections, args.big_mb)
        env = {**os.environ, "ASSISTANT_CORPUS": str(work / "corpus"),
               "ASSISTANT_INDEX": str(work / "index"), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
        started = time.perf_counter()
        ingest = subprocess.run([ASSISTANT, "ingest"], capture_output=True, text=True, env=env,
                                cwd=work, timeout=3600)
        ingest_seconds = time.perf_counter() - started
        # ru_maxrss of waited-for children, in KiB on Linux: the ingest is the only one so far.
        ingest_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        started = time.perf_counter()
        ask = subprocess.run([ASSISTANT, "ask", "--json", QUESTION], capture_output=True, text=True,
                             env=env, cwd=work, timeout=600)
        ask_seconds = time.perf_counter() - started
        answer = json.loads(ask.stdout) if ask.returncode == 0 and ask.stdout.strip() else {}
        cited = sorted({source["file"] for source in answer.get("sources", [])})
        print(f"corpus: {', '.join(f'{name} ({size:,} B)' for name, size in sizes.items())}")
        print(f"ingest: exit {ingest.returncode}, wall {ingest_seconds:.1f} s, "
              f"peak RSS {ingest_rss_mb:.0f} MB (target: under 120 s on 2 cores)")
        print(f"ingest summary: {ingest.stdout.strip()}")
        for line in ingest.stderr.splitlines():
            if line.startswith(("skipped ", "warning: ", "error: ")):
                print(f"ingest stderr: {line}")
        print(f"ask: exit {ask.returncode}, wall {ask_seconds:.1f} s, cites {cited}")
        print(f"ask answer: {answer.get('answer', ask.stderr.strip())}")
        answered = SENIOR_RANGE in answer.get("answer", "") and f"corpus/{SEED.name}" in cited
        print(f"shipped guide answers the question: {'yes' if answered else 'NO'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
