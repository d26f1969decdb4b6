"""Micro-batching: callers on many threads each hand in one item; one worker runs them together.

`MicroBatcher(run_batch, max_batch, max_wait_ms, workers)` turns concurrent calls of
`submit(item)` into calls of `run_batch(items) -> results` (one result per item, in order).
The server answers each question on its own thread; their query embeddings meet here, so
questions that arrive together share one forward pass of the model. At most `workers`
passes run at once (one per core: a pass runs on one core while the machine is busy).

A question that arrives alone (nothing queued or running, no other answer in progress) is
run at once on its caller's thread: it pays neither a wait nor a thread hand-off. When the
worker picks up a first item it waits for companions only while more answers are in
progress than items queued (`answering()` counts them), at most `max_wait_ms`, and takes at
most `max_batch` items. When `run_batch` raises, every caller of that batch gets the exception.

This file knows nothing about embeddings or models; `query_embedder.py` uses it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Slot:
    item: Any
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    largest: int = 0
    waits: int = 0  # batches for which the worker waited for companions

    def to_dict(self) -> dict[str, Any]:
        mean = round(self.items / self.batches, 2) if self.batches else 0.0
        return {"batches": self.batches, "items": self.items, "largest": self.largest,
                "mean": mean, "waits": self.waits}


class MicroBatcher:
    def __init__(self, run_batch: Callable[[list[Any]], Sequence[Any]], max_batch: int = 32,
                 max_wait_ms: float = 3.0, name: str = "micro-batcher", workers: int = 1) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._name = name
        self._queue: deque[_Slot] = deque()
        self._cond = threading.Condition()
        self.workers = workers
        self._threads: list[threading.Thread] = []
        self._answering = 0
        self._running = 0  # items of the batches being run: their answers are not coming
        self._passes = 0  # passes running: batches, and a lone question on its caller's thread
        self.stats = BatchStats()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Mark one answer in progress: while several are, the worker waits (boundedly) for
        their items to arrive instead of running a batch of one."""
        with self._cond:
            self._answering += 1
        try:
            yield
        finally:
            with self._cond:
                self._answering -= 1
                self._cond.notify_all()  # fewer to expect: a waiting worker may go now

    def submit(self, item: Any) -> Any:
        """`run_batch([item, ...])`'s result for `item`; blocks until its batch has run."""
        with self._cond:
            alone = not self._queue and not self._passes and self._answering <= 1
            if alone:
                # Nothing to batch with: run on the caller's thread. The hand-off to the
                # worker and back cost a lone question ~5 ms (26 → 31 ms, core_bench).
                self._passes += 1
                self.stats.batches += 1
                self.stats.items += 1
                self.stats.largest = max(self.stats.largest, 1)
        if alone:
            try:
                results = list(self._run_batch([item]))
            finally:
                with self._cond:
                    self._passes -= 1
                    self._cond.notify_all()  # a worker may take what queued meanwhile
            if len(results) != 1:
                raise RuntimeError(f"a batch of 1 gave {len(results)} results")
            return results[0]
        slot = _Slot(item)
        with self._cond:
            self._queue.append(slot)
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            while len(self._threads) < self.workers:
                # Started on first use, daemons: a process that never batches has no thread,
                # and a thread never keeps a finished process alive.
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            self._cond.notify_all()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _expected(self) -> int:
        # Answers in progress that may still hand in an item (the one being collected
        # included), less those whose item is in the batch being run. Not every answer
        # embeds, so this can overshoot: the wait is bounded.
        return min(self.max_batch, max(self._answering - self._running, 1))

    def _take(self) -> list[_Slot]:
        with self._cond:
            # At most `workers` passes at a time: what queued while they run (a lone
            # question's inline run included) waits for one to end.
            while not self._queue or self._passes >= self.workers:
                self._cond.wait()
            waited = False
            deadline = time.monotonic() + self.max_wait
            while len(self._queue) < self._expected():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                waited = True
                self._cond.wait(left)
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            self.stats.batches += 1
            self.stats.items += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            self.stats.waits += waited
            self._running += len(batch)
            self._passes += 1
            return batch

    def _work(self) -> None:
        while True:
            batch = self._take()
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._running -= len(batch)
                    self._passes -= 1
                    self._cond.notify_all()  # a pass ended: another worker may start one

    def _run(self, batch: list[_Slot]) -> None:
        try:
            results = list(self._run_batch([slot.item for slot in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        except BaseException as error:  # every waiter of this batch gets it
            for slot in batch:
                slot.error = error
                slot.done.set()
            return
        for slot, result in zip(batch, results, strict=True):
            slot.result = result
            slot.done.set()
