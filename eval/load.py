"""Bounded load test of `POST /api/ask` on loopback: latency percentiles, errors, memory.

    .venv/bin/python eval/load.py --serve --index .index          # starts `assistant serve`
    .venv/bin/python eval/load.py --url http://127.0.0.1:7860     # a server already running

N clients (default 32) each send questions back to back for a fixed time (default 30 s),
capped at --max-requests in total; only 127.0.0.1/localhost URLs are accepted. With
--serve the script starts the server itself on a free port (rate limit raised so the limit
is not what gets measured) and reports the serving process tree's resident memory (VmRSS
after the run, VmHWM peak) from /proc. It prints measured figures only; there are no thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from bench import memory_kib, pct, start_serve, stop_serve  # eval/bench.py: same folder

LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# A mix of what recruiters ask: figures, lists, follow-ups carried by history, refusals.
JUNIOR = "What does a junior backend developer earn in Leuven?"
REQUESTS: list[dict] = [
    {"question": JUNIOR},
    {"question": "Senior backend developer salary in Leuven?"},
    {"question": "and seniors?", "history": [{"role": "user", "content": JUNIOR},
                                             {"role": "assistant", "content": "Junior backend developers "
                                              "in Leuven earn €37,080 – €49,440 gross per year."}]},
    {"question": "Which companies hire backend developers in Leuven?"},
    {"question": "Where can I meet backend developers in Leuven? Any coworking hubs?"},
    {"question": "Which universities near Leuven train backend developers?"},
    {"question": "How much does a backend developer earn in Ghent?"},
    {"question": "What is the career path for backend developers in Leuven?"},
    {"question": "Is it hard to hire backend developers in Leuven?"},
    {"question": "Wat verdient een junior backend developer in Leuven?"},
    {"question": "hello"},
]


async def run_load(url: str, clients: int, duration: float, max_requests: int) -> dict:
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    sent = 0
    deadline = time.monotonic() + duration

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        turn = number
        while time.monotonic() < deadline and sent < max_requests:
            sent += 1
            body = REQUESTS[turn % len(REQUESTS)]
            turn += 1
            started = time.perf_counter()
            try:
                response = await http.post(f"{url}/api/ask", json=body)
                outcomes[str(response.status_code)] += 1
            except httpx.HTTPError as error:
                outcomes[type(error).__name__] += 1
                continue
            finally:
                latencies.append((time.perf_counter() - started) * 1000)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    return {"latencies": latencies, "outcomes": outcomes, "elapsed": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860", help="a running server (loopback only)")
    parser.add_argument("--serve", action="store_true", help="start `assistant serve` and measure its memory")
    parser.add_argument("--index", type=Path, default=None,
                        help="index for --serve (default $ASSISTANT_INDEX)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (at most 300)")
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--warmup", type=int, default=3, help="sequential requests before measuring")
    args = parser.parse_args()
    duration = min(args.duration, 300.0)

    process = None
    url = args.url.rstrip("/")
    if args.serve:
        try:
            # The limit is raised so that the rate limiter is not what gets measured.
            process, url = start_serve(args.index, {"ASSISTANT_RATE_LIMIT_PER_MINUTE": "100000000"})
        except RuntimeError as error:
            raise SystemExit(str(error)) from None
    if urlsplit(url).hostname not in LOOPBACK:
        raise SystemExit("load tests run against loopback only (127.0.0.1 / localhost)")
    try:
        for body in REQUESTS[: args.warmup]:  # the first answers load lazy parts of the model
            httpx.post(f"{url}/api/ask", json=body, timeout=120)
        before = memory_kib(process.pid) if process else {}
        result = asyncio.run(run_load(url, args.clients, duration, args.max_requests))
        after = memory_kib(process.pid) if process else {}
    finally:
        if process:
            stop_serve(process)

    latencies, outcomes = result["latencies"], result["outcomes"]
    ok = outcomes.get("200", 0)
    errors = sum(outcomes.values()) - ok
    print(f"POST /api/ask on {url}: {args.clients} clients for {duration:.0f} s "
          f"({result['elapsed']:.1f} s elapsed)")
    print(f"requests: {len(latencies)}  ok: {ok}  errors: {errors}  {dict(outcomes)}")
    if latencies:
        print(f"latency ms: p50 {statistics.median(latencies):.1f}  p95 {pct(latencies, 0.95):.1f}  "
              f"p99 {pct(latencies, 0.99):.1f}  max {max(latencies):.1f}")
        print(f"throughput: {len(latencies) / result['elapsed']:.1f} requests/s")
    if process:
        print(f"serving process memory: RSS before load {before.get('VmRSS', 0) / 1024:.0f} MiB, "
              f"after {after.get('VmRSS', 0) / 1024:.0f} MiB, peak {after.get('VmHWM', 0) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
