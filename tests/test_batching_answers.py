"""Answers are the same whether questions are embedded one by one or in micro-batches.

Every case of the dev split (`eval/sets/dev/*.jsonl`; never the test split) is asked on its
eval corpus twice with the real model: once one at a time with batching and the vector cache
off (each question its own forward pass, as before issue 13), once from 8 threads at a time
with batching and the cache on, so that questions of different cases share forward passes.
Every answer object (but its latency) must be identical, except that a source's rounded
`score` may move by one unit of its last decimal (see SCORE_ROUNDING). The batched run must
really have batched (a batch of more than one question), or the comparison would prove
nothing.

It runs in the precision `auto` chooses on the CPU at hand, as the server does. In bfloat16
padding a question to a batch's length moves its vector by up to ~5e-5, enough to flip a
decision that sits on the refusal threshold (seen once: `adj2-brussels-fe-freelance` refused
batched and answered one by one), so a bfloat16 batch runs one pass per token length, whose
vectors are those of the questions alone, bit for bit (`QueryForward.by_length`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant.chat import Assistant
from assistant.embeddings import default_embedder
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
        answer.pop("id")  # a fresh random id per answer (issue 12)
        answers.append(answer)
        history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer["answer"]}]
    return answers


# A source's `score` is rounded to 4 decimals. A batch's vector differs from the one-by-one
# vector by ~1e-7, which moves a score that sits on a rounding boundary by one unit of the
# last decimal (seen: 2.07505 shown as 2.0751 one way, 2.075 the other). Everything else
# must be identical: text, kind, abstention, sources and their order, quotes, facts.
SCORE_ROUNDING = 1.5e-4


def without_scores(answers: list[dict]) -> list[dict]:
    return [{**a, "sources": [{k: v for k, v in s.items() if k != "score"} for s in a["sources"]]}
            for a in answers]


def scores(answers: list[dict]) -> list[float]:
    return [s["score"] for a in answers for s in a["sources"]]


def describe(answers: list[dict]) -> list:
    return [(a["answer"], [(x["section"], x["score"]) for x in a["sources"]]) for a in answers]


@pytest.fixture(scope="module")
def embedder():
    embedder = default_embedder(Settings())  # the CPU's own choice, as in `serve`
    embedder.load()
    return embedder


def test_dev_answers_identical_with_batching_on_and_off(tmp_path_factory, embedder,
                                                        monkeypatch) -> None:
    # One torch thread count for every question embedding of both runs: the count otherwise
    # follows the load average, which a shared machine changes in the middle of a run.
    monkeypatch.setattr(type(embedder), "_query_threads", lambda self: 1)
    groups = dev_cases()
    assert sum(len(cases) for cases in groups.values()) > 300
    largest = 0
    for number, (corpus, cases) in enumerate(groups.items()):
        root = tmp_path_factory.mktemp(f"batching-{number}") / "index"
        off = Settings(embed_batching=False, query_cache_size=0)
        workspace = Workspace(off, tuple(ROOT / c for c in corpus) if len(corpus) > 1 else ROOT / corpus[0],
                              embedder, root, baseline=False)
        unbatched = workspace.assistant
        batched = Assistant(workspace.settings.model_copy(update={
            "embed_batching": True, "embed_batch_wait_ms": 5.0, "embed_batch_max": 32,
            "query_cache_size": 4096}), embedder=embedder, client=workspace.client)
        expected = [conversation(unbatched, case.turns) for case in cases]
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(conversation, [batched] * len(cases), [c.turns for c in cases]))
        for case, want, have in zip(cases, expected, got, strict=True):
            assert without_scores(have) == without_scores(want), (case.id, describe(want), describe(have))
            for one, other in zip(scores(have), scores(want), strict=True):
                assert abs(one - other) <= SCORE_ROUNDING, (case.id, describe(want), describe(have))
        stats = batched.embedding_stats()
        assert stats["batching"]["enabled"] and not unbatched.embedding_stats()["batching"]["enabled"]
        largest = max(largest, stats["batching"]["largest"])
    assert largest > 1
