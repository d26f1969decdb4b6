"""Bounded cost per API request: a time budget, and one client's share of the answering workers.

`AnswerBudget(seconds, per_client)` runs a blocking answer function on the server's worker
threads for an async route:
- the request's deadline is `seconds` after it arrives; the answer function gets it and stops
  at its next step past it (`Assistant.ask(..., deadline=)` raises `OverBudget`, HTTP 503);
- at most `per_client` answers of one client (the rate limiter's key) run at once. Its
  further requests wait in line, within their own budget, so a client that sends its whole
  burst at once takes `per_client` workers, not all of them, and other clients' answers
  keep their share of the CPU. A request still waiting when its budget runs out gets 503.

In-process only, like the rate limit: each replica counts its own. This file does not know
what an answer is; it does not time out a thread (Python cannot): the work itself checks.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from .errors import OverBudget

T = TypeVar("T")


class AnswerBudget:
    def __init__(self, seconds: float, per_client: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if seconds <= 0 or per_client < 1:
            raise ValueError("the budget needs seconds > 0 and per_client >= 1")
        self.seconds = seconds
        self.per_client = per_client
        self.clock = clock
        # client -> (its semaphore, requests holding or waiting for it). An entry goes when
        # its last request ends, so memory follows the requests in progress, not the clients
        # ever seen. Touched only from the event loop's thread: no lock.
        self._clients: dict[str, list[Any]] = {}

    def in_progress(self) -> int:
        return sum(entry[1] for entry in self._clients.values())

    async def run(self, client: str, answer: Callable[..., T], *args: Any) -> T:
        """`answer(*args, deadline=...)` on a worker thread, within this request's budget."""
        deadline = self.clock() + self.seconds
        entry = self._clients.get(client)
        if entry is None:
            entry = self._clients[client] = [asyncio.Semaphore(self.per_client), 0]
        entry[1] += 1
        try:
            if entry[0].locked():  # this client's share is taken: wait in line, within budget
                try:
                    await asyncio.wait_for(entry[0].acquire(), timeout=max(deadline - self.clock(), 0))
                except TimeoutError:
                    raise OverBudget("this client's earlier questions are still being answered; "
                                     "try again in a moment") from None
            else:
                await entry[0].acquire()
            try:
                return await run_in_threadpool(functools.partial(answer, *args, deadline=deadline))
            finally:
                entry[0].release()
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._clients[client]
