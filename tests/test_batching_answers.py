"""Answers are the same whether questions are embedded one by one or in micro-batches.

Every case of the dev split (`eval/sets/dev/*.jsonl`; never the test split) is asked on its
eval corpus twice with the real model: once one at a time with batching and the vector cache
off (each question its own forward pass, as before issue 13), once from 8 threads at a time
with batching and the cache on, so that questions of different cases share forward passes.
Every answer object (but its latency) must be identical. The batched run must really have
batched (a batch of more than one question), or the comparison would prove nothing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant.chat import Assistant
from assistant.evaluate import Workspace, load_config, load_set
from assistant.settings import Settings
from conftest import ROOT

pytestmark = pytest.mark.integration
DEV = ROOT / "eval" / "sets" / "dev"


def dev_cases() -> dict[tuple[Path, ...], list]:
    config = load_config(ROOT / "eval" / "gates.toml")
    by_corpus: dict[tuple[Path, ...], list] = {}
    for path in sorted(DEV.glob("*.jsonl")):  # the dev folder only: the test split stays unread
        cases = load_set(path, f"dev/{path.stem}")
        by_corpus.setdefault(config.corpus_of(f"dev/{path.stem}", Path("corpus")), []).extend(cases)
    return by_corpus


def conversation(assistant: Assistant, turns: list[str]) -> list[dict]:
    history: list[dict] = []
    answers = []
    for turn in turns:
        answer = assistant.ask(turn, history).to_dict()
        answer.pop("latency_ms")
        answers.append(answer)
        history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer["answer"]}]
    return answers


def test_dev_answers_identical_with_batching_on_and_off(tmp_path_factory, real_embedder) -> None:
    groups = dev_cases()
    assert sum(len(cases) for cases in groups.values()) > 300
    largest = 0
    for number, (corpus, cases) in enumerate(groups.items()):
        root = tmp_path_factory.mktemp(f"batching-{number}") / "index"
        off = Settings(embed_batching=False, query_cache_size=0)
        workspace = Workspace(off, tuple(ROOT / c for c in corpus) if len(corpus) > 1 else ROOT / corpus[0],
                              real_embedder, root, baseline=False)
        unbatched = workspace.assistant
        batched = Assistant(workspace.settings.model_copy(update={
            "embed_batching": True, "embed_batch_wait_ms": 5.0, "embed_batch_max": 32,
            "query_cache_size": 4096}), embedder=real_embedder, client=workspace.client)
        expected = [conversation(unbatched, case.turns) for case in cases]
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(conversation, [batched] * len(cases), [c.turns for c in cases]))
        for case, want, have in zip(cases, expected, got, strict=True):
            assert have == want, case.id
        stats = batched.embedding_stats()
        assert stats["batching"]["enabled"] and not unbatched.embedding_stats()["batching"]["enabled"]
        largest = max(largest, stats["batching"]["largest"])
    assert largest > 1
