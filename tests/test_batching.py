"""The micro-batcher, the question-vector cache and the per-request budget, without a model:
concurrency, bounded batches, a lone question not waiting, errors reaching every waiter,
LRU bounds and hit counts, and the budget's per-client share. No timed assertions: waits
are observed through the batcher's counters and events, never through a clock."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from assistant.batcher import MicroBatcher
from assistant.budget import AnswerBudget
from assistant.errors import OverBudget
from assistant.query_embedder import QueryCache, QueryEmbedder, cache_key, length_groups


class Recorder:
    """A batch function that records every batch it is given; can be held or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail: Exception | None = None

    def __call__(self, items: list[str]) -> list[str]:
        self.entered.set()
        self.gate.wait()
        self.batches.append(list(items))
        if self.fail is not None:
            raise self.fail
        return [item.upper() for item in items]


def run_threads(count: int, target) -> tuple[list, list]:
    results: list = [None] * count
    errors: list = [None] * count

    def call(index: int) -> None:
        try:
            results[index] = target(index)
        except Exception as error:  # noqa: BLE001 - recorded for the assertion
            errors[index] = error

    threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


def queued_behind_a_held_batch(batcher: MicroBatcher, recorder: Recorder, count: int,
                               first=None, while_held=None) -> tuple[list, list]:
    """Hold a first batch in `recorder`, queue `count` items ("q0"…) behind it, release it:
    the queued items' (results, errors)."""
    recorder.gate.clear()
    holder = threading.Thread(target=first or (lambda: batcher.submit("first")))
    holder.start()
    assert recorder.entered.wait(30)
    if while_held is not None:
        while_held()
    box: dict = {}
    collector = threading.Thread(target=lambda: box.setdefault("out", run_threads(
        count, lambda i: batcher.submit(f"q{i}"))))
    collector.start()
    while len(batcher._queue) < count:  # all queued behind the held batch
        time.sleep(0.001)
    recorder.gate.set()
    collector.join(60)
    holder.join(60)
    return box["out"]


def test_a_lone_item_runs_on_the_callers_thread() -> None:
    threads: list[threading.Thread] = []

    def run(items: list[str]) -> list[str]:
        threads.append(threading.current_thread())
        return [item.upper() for item in items]

    batcher = MicroBatcher(run, max_batch=8, max_wait_ms=0)
    with batcher.answering():
        assert batcher.submit("alone") == "ALONE"
    assert threads == [threading.current_thread()]  # no hand-off to the worker and back
    assert batcher.stats.batches == 1 and batcher.stats.items == 1


def test_a_lone_item_runs_at_once_without_waiting() -> None:
    recorder = Recorder()
    # A wait this long would hang the test if a lone item waited for companions.
    batcher = MicroBatcher(recorder, max_batch=8, max_wait_ms=100)
    with batcher.answering():
        assert batcher.submit("leuven") == "LEUVEN"
    assert batcher.submit("ghent") == "GHENT"  # outside any answer too
    assert recorder.batches == [["leuven"], ["ghent"]]
    assert batcher.stats.waits == 0 and batcher.stats.largest == 1


def test_items_that_arrive_together_share_a_batch_each_gets_its_own_result() -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch=64, max_wait_ms=0)
    results, errors = queued_behind_a_held_batch(batcher, recorder, 20)
    assert errors == [None] * 20
    assert results == [f"Q{i}" for i in range(20)]
    assert recorder.batches[0] == ["first"]
    assert sorted(recorder.batches[1]) == sorted(f"q{i}" for i in range(20))
    assert batcher.stats.largest == 20


def test_batch_size_is_bounded() -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch=4, max_wait_ms=0)
    results, errors = queued_behind_a_held_batch(batcher, recorder, 10)
    assert errors == [None] * 10 and results == [f"Q{i}" for i in range(10)]
    assert [len(batch) for batch in recorder.batches] == [1, 4, 4, 2]
    assert batcher.stats.items == 11 and batcher.stats.batches == 4


def test_wait_for_answers_in_progress_is_bounded() -> None:
    """Two answers in progress, but only one hands in an item: the batch goes after the
    bounded wait (the test would hang if the wait were not bounded)."""
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch=8, max_wait_ms=20)
    other_answer = batcher.answering()
    other_answer.__enter__()
    try:
        with batcher.answering():
            assert batcher.submit("alone") == "ALONE"
    finally:
        other_answer.__exit__(None, None, None)
    assert recorder.batches == [["alone"]]
    assert batcher.stats.waits == 1


def test_wait_ends_as_soon_as_the_expected_items_are_in() -> None:
    recorder = Recorder()
    # A ten-minute wait: the test ends early only because both expected items arrived.
    batcher = MicroBatcher(recorder, max_batch=8, max_wait_ms=600_000)
    barrier = threading.Barrier(2)

    def answer(index: int) -> str:
        with batcher.answering():
            barrier.wait(30)
            return batcher.submit(f"q{index}")

    results, errors = run_threads(2, answer)
    assert errors == [None, None] and results == ["Q0", "Q1"]
    assert sum(len(batch) for batch in recorder.batches) == 2


def test_an_error_reaches_every_waiter_of_its_batch() -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch=16, max_wait_ms=0)

    def break_the_model() -> None:
        recorder.fail = RuntimeError("model broke")

    results, errors = queued_behind_a_held_batch(
        batcher, recorder, 5, first=lambda: pytest.raises(RuntimeError, batcher.submit, "first"),
        while_held=break_the_model)
    assert results == [None] * 5
    assert all(isinstance(e, RuntimeError) and str(e) == "model broke" for e in errors)
    # and the worker survives: the next item is answered
    recorder.fail = None
    assert batcher.submit("after") == "AFTER"


def test_a_batch_function_returning_the_wrong_count_fails_its_waiters() -> None:
    batcher = MicroBatcher(lambda items: items[:-1], max_batch=4, max_wait_ms=0)
    with pytest.raises(RuntimeError, match="gave 0 results"):
        batcher.submit("x")


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_passes_at_once_are_bounded_by_the_workers(workers) -> None:
    """Items keep arriving while passes run: up to `workers` passes (a lone item's run on its
    caller's thread counts as one) overlap, never more."""
    lock = threading.Lock()
    running, most = [0], [0]

    def run(items: list[str]) -> list[str]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return [item.upper() for item in items]

    batcher = MicroBatcher(run, max_batch=1, max_wait_ms=0, workers=workers)

    def ask(index: int) -> str:
        time.sleep(0.01 * index)  # staggered: the first runs alone, the rest queue behind
        return batcher.submit(f"q{index}")

    results, errors = run_threads(8, ask)
    assert errors == [None] * 8 and results == [f"Q{i}" for i in range(8)]
    assert most[0] == workers


def test_bad_batcher_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, max_batch=0)
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, max_wait_ms=-1)
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, workers=0)


# --- the cache ------------------------------------------------------------------------------


def test_cache_is_a_bounded_lru_with_hit_counts() -> None:
    cache = QueryCache(2)
    assert cache.get("a") is None
    cache.put("a", [1.0, 0.0])
    cache.put("b", [0.0, 1.0])
    assert cache.get("a") == [1.0, 0.0]  # a is now the most recent
    cache.put("c", [0.5, 0.5])  # evicts b, the least recently used
    assert cache.get("b") is None and cache.get("c") == [0.5, 0.5]
    assert len(cache) == 2
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["size"], stats["capacity"]) == (2, 2, 2, 2)


def test_cached_vector_cannot_be_changed_by_a_caller() -> None:
    cache = QueryCache(4)
    cache.put("a", [1.0, 2.0])
    got = cache.get("a")
    got[0] = 99.0
    assert cache.get("a") == [1.0, 2.0]


def test_cache_key_collapses_whitespace_and_lowercases_only_for_an_uncased_model() -> None:
    assert cache_key("  Senior  salary\tLeuven? ", lowercase=False) == "Senior salary Leuven?"
    assert cache_key("Senior  salary Leuven?", lowercase=True) == "senior salary leuven?"
    assert cache_key("Leuven", lowercase=False) != cache_key("leuven", lowercase=False)


class CountingEmbedder:
    """Stands in for the model: counts what it is asked to embed."""

    uncased = True
    model_name = "counting"
    embed_batch_size = 8

    def __init__(self) -> None:
        self.singles: list[str] = []
        self.batches: list[list[str]] = []

    def get_query_embedding(self, text: str) -> list[float]:
        self.singles.append(text)
        return [float(len(text)), 1.0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]

    def get_text_embedding_batch(self, texts, show_progress=False, **kwargs):
        return [[0.0, float(len(t))] for t in texts]


def test_query_embedder_caches_questions_not_indexed_texts() -> None:
    inner = CountingEmbedder()
    embedder = QueryEmbedder(inner, cache_size=16, batching=False)
    assert embedder.get_query_embedding("Senior salary Leuven?") == [21.0, 1.0]
    assert embedder.get_query_embedding("senior  SALARY leuven?") == [21.0, 1.0]  # same key
    assert inner.singles == ["Senior salary Leuven?"]
    embedder.get_text_embedding_batch(["a", "b"])
    embedder.get_text_embedding_batch(["a", "b"])
    stats = embedder.stats()
    assert stats["cache"]["hits"] == 1 and stats["cache"]["misses"] == 1
    assert stats["batching"] == {"enabled": False}


class BlockingEmbedder(CountingEmbedder):
    """Holds every embedding until `release` is set; fails while `error` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()
        self.error: Exception | None = None

    def get_query_embedding(self, text: str) -> list[float]:
        self.started.set()
        assert self.release.wait(5)
        if self.error is not None:
            raise self.error
        return super().get_query_embedding(text)


def _ask_in_threads(embedder: QueryEmbedder, question: str, n: int) -> tuple[list, list]:
    results: list = []
    errors: list = []

    def ask() -> None:
        try:
            results.append(embedder.get_query_embedding(question))
        except Exception as error:  # noqa: BLE001 - collected for the test to check
            errors.append(error)

    first = threading.Thread(target=ask)
    first.start()
    assert embedder.inner.started.wait(5)  # the first miss is being embedded
    others = [threading.Thread(target=ask) for _ in range(n - 1)]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 5
    while embedder.stats()["cache"]["shared"] < n - 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    embedder.inner.release.set()
    for thread in [first, *others]:
        thread.join(5)
    return results, errors


@pytest.mark.parametrize("batching", [False, True])
def test_concurrent_misses_of_one_question_embed_it_once(batching: bool) -> None:
    inner = BlockingEmbedder()
    embedder = QueryEmbedder(inner, cache_size=16, batching=batching, max_wait_ms=0)
    results, errors = _ask_in_threads(embedder, "Senior salary Leuven?", 4)
    assert errors == [] and results == [[21.0, 1.0]] * 4
    assert inner.singles == ["Senior salary Leuven?"] and inner.batches == []
    assert embedder.stats()["cache"]["shared"] == 3
    results[0][0] = -1.0  # each caller has its own copy
    assert embedder.get_query_embedding("Senior salary Leuven?") == [21.0, 1.0]


def test_a_failed_shared_embedding_reaches_its_waiters_and_the_next_asker_tries_again() -> None:
    inner = BlockingEmbedder()
    inner.error = RuntimeError("model process died")
    embedder = QueryEmbedder(inner, cache_size=16, batching=False)
    results, errors = _ask_in_threads(embedder, "hello", 3)
    assert results == [] and [str(e) for e in errors] == ["model process died"] * 3
    inner.error = None
    assert embedder.get_query_embedding("hello") == [5.0, 1.0]
    assert inner.singles == ["hello"]


def test_query_embedder_without_cache_embeds_every_time() -> None:
    inner = CountingEmbedder()
    embedder = QueryEmbedder(inner, cache_size=0, batching=False)
    embedder.get_query_embedding("x")
    embedder.get_query_embedding("x")
    assert inner.singles == ["x", "x"]
    assert embedder.stats()["cache"] == {"capacity": 0}


def test_query_embedder_batches_distinct_questions_once_each() -> None:
    inner = CountingEmbedder()
    embedder = QueryEmbedder(inner, cache_size=0, batching=True, max_batch=8, max_wait_ms=0)
    assert embedder._embed_batch(["a", "bb", "a"]) == [[1.0, 1.0], [2.0, 1.0], [1.0, 1.0]]
    assert inner.batches == [["a", "bb"]]
    assert embedder._embed_batch(["a", "a"]) == [[1.0, 1.0], [1.0, 1.0]]
    assert inner.singles == ["a"]  # one distinct question: the unbatched path exactly


def test_a_long_question_is_not_batched_with_short_ones() -> None:
    long = "salary " * 300
    short = ["Senior salary in Leuven?", "Which companies hire in Ghent?", "hello"]
    assert length_groups([long, *short]) == [sorted(short, key=len), [long]]
    inner = CountingEmbedder()
    embedder = QueryEmbedder(inner, cache_size=0, batching=True, max_wait_ms=0)
    vectors = embedder._embed_batch([long, *short])
    assert vectors == [[float(len(t)), 1.0] for t in [long, *short]]
    assert inner.batches == [sorted(short, key=len)] and inner.singles == [long]


# --- the per-request budget -------------------------------------------------------------------


def test_budget_passes_a_deadline_and_returns_the_answer() -> None:
    budget = AnswerBudget(seconds=5, per_client=2)
    seen: dict = {}

    def answer(question: str, deadline: float) -> str:
        seen["deadline"] = deadline
        return question.upper()

    started = time.monotonic()
    assert asyncio.run(budget.run("1.2.3.4", answer, "q")) == "Q"
    assert started < seen["deadline"] <= time.monotonic() + 5
    assert budget.in_progress() == 0


def test_one_client_runs_at_most_its_share_at_once_others_are_not_held() -> None:
    budget = AnswerBudget(seconds=60, per_client=2)
    release = threading.Event()
    running: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Lock()

    def answer(client: str, deadline: float) -> str:
        with lock:
            running[client] = running.get(client, 0) + 1
            peak[client] = max(peak.get(client, 0), running[client])
        if client == "abuser":
            release.wait(30)
        with lock:
            running[client] -= 1
        return client

    async def scenario() -> list[str]:
        abuser = [asyncio.create_task(budget.run("abuser", answer, "abuser")) for _ in range(6)]
        await asyncio.sleep(0.05)
        # the abuser's six are in: two running, four in line; another client still gets in
        other = await asyncio.wait_for(budget.run("other", answer, "other"), timeout=30)
        assert budget.in_progress() == 6
        release.set()
        return [other] + list(await asyncio.gather(*abuser))

    results = asyncio.run(scenario())
    assert results == ["other"] + ["abuser"] * 6
    assert peak["abuser"] == 2
    assert budget.in_progress() == 0 and budget._clients == {}


def test_a_request_waiting_past_its_budget_gets_over_budget() -> None:
    budget = AnswerBudget(seconds=0.05, per_client=1)
    release = threading.Event()

    def slow(deadline: float) -> str:
        release.wait(30)
        return "done"

    async def scenario() -> None:
        first = asyncio.create_task(budget.run("c", slow))
        await asyncio.sleep(0.01)
        with pytest.raises(OverBudget):
            await budget.run("c", slow)
        release.set()
        assert await first == "done"

    asyncio.run(scenario())


def test_an_answer_past_its_deadline_stops_with_over_budget(fake_assistant) -> None:
    with pytest.raises(OverBudget):
        fake_assistant.ask("What does a senior backend developer earn in Leuven?",
                           deadline=time.monotonic() - 1)
    answer = fake_assistant.ask("What does a senior backend developer earn in Leuven?",
                                deadline=time.monotonic() + 60)
    assert answer.answer
