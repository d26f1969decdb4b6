"""A per-client token bucket for the HTTP API: N requests a minute, short bursts allowed.

One `RateLimiter` lives on one app (no module-level state) and guards every route that
answers a question (the API's `/api/ask`, the chat page's function behind Gradio's routes);
`take(request)` keys a client by its peer address, as the server reports it (see
`api.server_options` for when a proxy's X-Forwarded-For counts). In-process only: several
replicas each count on their own, which is what a per-replica limit means. A refusal is
`TooManyRequests`, which the API answers with 429.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import TooManyRequests


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows `per_minute` requests per client per minute, refilled continuously."""

    def __init__(self, per_minute: int, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(per_minute, 0))
        self.rate = self.capacity / 60.0  # tokens per second
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> tuple[bool, float]:
        """Take one token for `client`: (allowed, seconds until the next token if refused)."""
        if self.capacity <= 0:
            return False, 60.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= self.max_clients:
                    self._prune(now)
                bucket = self._buckets[client] = _Bucket(self.capacity, now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True, 0.0
            return False, (1.0 - bucket.tokens) / self.rate

    def take(self, request: Any) -> None:
        """One token for the client that sent `request` (Starlette's or Gradio's), or
        `TooManyRequests`."""
        allowed, wait = self.allow(client_key(request))
        if not allowed:
            raise TooManyRequests("too many requests; try again in a moment", wait)

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely is the same as no bucket: forget those first,
        # then the oldest, so a flood of new addresses cannot grow memory without bound.
        full = [key for key, b in self._buckets.items()
                if b.tokens + (now - b.updated) * self.rate >= self.capacity]
        for key in full:
            del self._buckets[key]
        while len(self._buckets) >= self.max_clients:
            oldest = min(self._buckets, key=lambda key: self._buckets[key].updated)
            del self._buckets[oldest]


def client_key(request: Any) -> str:
    """The peer address of a Starlette or Gradio request."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"
