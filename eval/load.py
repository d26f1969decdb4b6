"""Load test of `POST /api/ask` on loopback (issues 5, 11, 13): many clients, batching on and off.

    make load                                             # the full run below (~7 min)
    .venv/bin/python eval/load.py --clients 32 --duration 10 --modes off,batch+cache   # quicker
    .venv/bin/python eval/load.py --url http://127.0.0.1:7860 --clients 32   # a running server

With `--serve` (the default unless `--url` is given) the script indexes the shipped corpus into
a temporary folder and, for each mode, starts `assistant serve` from this checkout on a free
loopback port, one server per mode, each measured at every client count in turn:

- `off`: each request embeds its own question in the eager pass, no vector cache (the path
  before issue 13);
- `unbatched`: the same with the traced question pass (`ASSISTANT_EMBED_TRACE`, on by
  default): what the trace alone gives;
- `batch`: questions that arrive together share one forward pass, no cache;
- `batch+cache`: micro-batching and the question-vector cache (the default settings).

Each client is a closed loop (next request when the answer comes) for `--duration` seconds,
with its own X-Forwarded-For address (the server trusts 127.0.0.1 as a proxy for this run),
so each counts as its own client for the rate limit (raised so it is not what is measured)
and the per-client share of answering workers, as recruiters behind a proxy would.
Questions are the first turns of the dev split's Leuven sets and a follow-up with history;
the test split is never read. For each run it prints requests/s, latency p50/p95/p99, errors
(any non-200, with 5xx counted apart), the served process tree's RSS after the run and its
peak (VmHWM), and the server's own batch and cache counts from `/api/health`.

Abuse mix (issue 11), on the last mode: the `--abuse-clients` load once without and once with
one more client that sends its whole burst (`--abuse-burst`, default 60 = the default
`ASSISTANT_RATE_LIMIT_PER_MINUTE`) of maximum-size requests at once (a 2,000-character
question and 20 turns / 32,000 characters of history), then one more each second (the
limit's refill rate). The normal clients' p95 is printed for both runs side by side.

Question log (issue 12), on the default settings (batching + cache) at `--log-clients` (32):
two servers started side by side, one with `ASSISTANT_LOG=off` and one logging to a SQLite
file, measured in alternation (`--log-rounds` rounds of off then on, so a shared machine's
load falls on both alike). Prints each side's p95, errors, and the logging server's written
and dropped record counts from `/api/health`. `--only-log` runs just this part. The mode
servers above run with the log off, as before issue 12.

It prints measured figures and the 1-minute load average (the machine is shared); there
are no thresholds. Only 127.0.0.1/localhost URLs are accepted. JSON lands in eval/out/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from bench import ASSISTANT, ROOT, memory_kib, pct, start_serve, stop_serve  # eval/bench.py

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MODES = {
    "off": {"ASSISTANT_EMBED_BATCHING": "false", "ASSISTANT_QUERY_CACHE_SIZE": "0",
            "ASSISTANT_EMBED_TRACE": "false"},
    "unbatched": {"ASSISTANT_EMBED_BATCHING": "false", "ASSISTANT_QUERY_CACHE_SIZE": "0"},
    "batch": {"ASSISTANT_EMBED_BATCHING": "true", "ASSISTANT_QUERY_CACHE_SIZE": "0"},
    "batch+cache": {"ASSISTANT_EMBED_BATCHING": "true"},
}
JUNIOR = "What does a junior backend developer earn in Leuven?"
FOLLOW_UP = {"question": "and seniors?", "history": [
    {"role": "user", "content": JUNIOR},
    {"role": "assistant",
     "content": "Junior backend developers in Leuven earn €37,080 – €49,440 gross per year."}]}


def dev_requests() -> list[dict]:
    """First turns of the dev split's Leuven sets (shipped corpus), and one follow-up."""
    questions: list[str] = []
    for path in sorted((ROOT / "eval" / "sets" / "dev").glob("leuven-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                questions.append(json.loads(line)["turns"][0])
    requests = [{"question": q} for q in dict.fromkeys(questions)]
    return requests + [FOLLOW_UP]


def abusive_request(max_question: int = 2000, turns: int = 20, history_chars: int = 32_000) -> dict:
    """The largest request the default limits accept, in words the engine has to read: place
    and role names, two-part questions, apostrophes (issue 11's costliest history)."""
    phrase = ("What do senior backend developers earn in Leuven, and which companies in Ghent "
              "hire data engineers' teams? Isn't it '' hard ''' to hire? ")
    question = (phrase * (max_question // len(phrase) + 1))[:max_question]
    per_turn = history_chars // turns
    history = [{"role": "user" if i % 2 == 0 else "assistant",
                "content": (phrase * (per_turn // len(phrase) + 1))[:min(per_turn, max_question)]}
               for i in range(turns)]
    return {"question": question, "history": history}


class RawClient:
    """POST /api/ask over one kept-alive HTTP/1.1 connection, with the request bytes built
    once per body: the load generator shares the server's 2 cores, and httpx spent ~7.5 ms
    of CPU per request (0.8 of a core at 106 requests/s), CPU the server then did not have.
    Reads Content-Length or chunked bodies; reconnects when the server closes."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._built: dict[tuple[int, str], bytes] = {}

    def _request(self, body: dict, forwarded: str) -> bytes:
        key = (id(body), forwarded)
        if key not in self._built:
            payload = json.dumps(body).encode()
            self._built[key] = (
                f"POST /api/ask HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                f"X-Forwarded-For: {forwarded}\r\n\r\n").encode() + payload
        return self._built[key]

    async def post(self, body: dict, forwarded: str) -> int:
        if self._stream is None:
            self._stream = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._stream
        try:
            writer.write(self._request(body, forwarded))
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            if "content-length" in headers:
                await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                while size := int((await reader.readuntil(b"\r\n")).strip() or b"0", 16):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            if headers.get("connection", "").lower() == "close":
                await self.close()
            return status
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None


def address(number: int) -> str:
    return f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"


async def run_load(url: str, clients: int, duration: float, requests: list[dict],
                   abuse: dict | None = None, abuse_burst: int = 0, raw: bool = True) -> dict:
    """Closed-loop clients for `duration` s. `raw`: the normal clients speak HTTP/1.1 over
    their own sockets (`RawClient`); otherwise, and always for the abuser, through httpx."""
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    abuse_latencies: list[float] = []
    abuse_outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + duration

    async def post(http: httpx.AsyncClient | RawClient, body: dict, forwarded: str
                   ) -> tuple[float, str]:
        started = time.perf_counter()
        try:
            if isinstance(http, RawClient):
                outcome = str(await http.post(body, forwarded))
            else:
                response = await http.post(f"{url}/api/ask", json=body,
                                           headers={"X-Forwarded-For": forwarded})
                outcome = str(response.status_code)
        except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError) as error:
            outcome = type(error).__name__
        return (time.perf_counter() - started) * 1000, outcome

    async def client(number: int, http: httpx.AsyncClient) -> None:
        # raw: each client its own kept-alive connection, as a browser tab would hold.
        own = RawClient(url) if raw else http
        turn = number
        try:
            while time.monotonic() < deadline:
                latency, outcome = await post(own, requests[turn % len(requests)], address(number))
                turn += 1
                latencies.append(latency)
                outcomes[outcome] += 1
        finally:
            if raw:
                await own.close()

    async def abuser(http: httpx.AsyncClient) -> None:
        async def one() -> None:
            latency, outcome = await post(http, abuse, "10.255.255.254")
            abuse_latencies.append(latency)
            abuse_outcomes[outcome] += 1

        tasks = [asyncio.create_task(one()) for _ in range(abuse_burst)]
        while time.monotonic() < deadline:  # then the limit's refill: one a second
            await asyncio.sleep(1.0)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)

    connections = clients + (abuse_burst + int(duration) + 1 if abuse else 0)
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends: reusing one that the
    # server is closing at that moment is a client-side ReadError, not a server error.
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections,
                          keepalive_expiry=2.0)
    load_before = os.getloadavg()[0]
    cpu_before = time.process_time()
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        jobs = [client(n, http) for n in range(clients)]
        if abuse:
            jobs.append(abuser(http))
        await asyncio.gather(*jobs)
    elapsed = time.monotonic() - started
    return {"latencies": latencies, "outcomes": outcomes, "elapsed": elapsed,
            # The load generator's own share of the cores: what the server could not use.
            "client_cpu_cores": round((time.process_time() - cpu_before) / elapsed, 2),
            "abuse_latencies": abuse_latencies, "abuse_outcomes": abuse_outcomes,
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def summary(result: dict, key: str = "latencies", outcomes_key: str = "outcomes") -> dict:
    latencies, outcomes = result[key], result[outcomes_key]
    ok = outcomes.get("200", 0)
    figures = {
        "requests": len(latencies), "ok": ok, "errors": sum(outcomes.values()) - ok,
        "server_errors": sum(n for status, n in outcomes.items() if status.startswith("5")),
        "outcomes": dict(outcomes),
        "requests_per_s": round(len(latencies) / result["elapsed"], 1),
        "client_cpu_cores": result.get("client_cpu_cores"),
    }
    if latencies:
        figures |= {"p50_ms": round(statistics.median(latencies), 1),
                    "p95_ms": round(pct(latencies, 0.95), 1), "p99_ms": round(pct(latencies, 0.99), 1),
                    "max_ms": round(max(latencies), 1)}
    return figures


def health(url: str) -> dict:
    return httpx.get(f"{url}/api/health", timeout=30).json().get("embedding", {})


def server_figures(process: subprocess.Popen | None, url: str) -> dict:
    figures: dict = {}
    if process is not None:
        memory = memory_kib(process.pid)
        figures |= {"rss_mib": round(memory.get("VmRSS", 0) / 1024),
                    "peak_mib": round(memory.get("VmHWM", 0) / 1024)}
    embedding = health(url)
    batching, cache = embedding.get("batching", {}), embedding.get("cache", {})
    figures |= {"batches": batching.get("batches"), "mean_batch": batching.get("mean"),
                "largest_batch": batching.get("largest"), "cache_hits": cache.get("hits"),
                "cache_misses": cache.get("misses"), "cache_shared": cache.get("shared"),
                "precision": embedding.get("model", {}).get("precision")}
    return figures


def line(mode: str, clients: int, figures: dict, server: dict, load: list[float], label: str = "") -> str:
    return (f"{mode:<12} {clients:>4}{label:<8} {figures['requests_per_s']:>7.1f} "
            f"{figures.get('p50_ms', 0):>7.1f} {figures.get('p95_ms', 0):>7.1f} "
            f"{figures.get('p99_ms', 0):>7.1f} "
            f"{figures['errors']:>6} {figures['server_errors']:>4} {server.get('rss_mib', '-'):>6} "
            f"{server.get('peak_mib', '-'):>6} {server.get('mean_batch') or '-':>6} "
            f"{server.get('cache_hits') or 0:>7}/{server.get('cache_misses') or 0:<7} "
            f"{load[0]:.1f}-{load[1]:.1f} {figures.get('client_cpu_cores') or '-':>6}")


HEADER = (f"{'mode':<12} {'clients':>11} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'errors':>6} "
          f"{'5xx':>4} {'RSS':>6} {'peak':>6} {'batch':>6} {'cache hit/miss':>15} load    client CPU")


def build_index(folder: Path) -> Path:
    index = folder / "index"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "ASSISTANT_INDEX": str(index),
           "ASSISTANT_CORPUS": str(ROOT / "corpus")}
    subprocess.run([ASSISTANT, "ingest"], env=env, cwd=ROOT, check=True, capture_output=True)
    return index


def log_comparison(index: Path, work: Path, clients: int, rounds: int, duration: float,
                   requests: list[dict], results: list[dict]) -> None:
    """The same load on a server with the question log off and one with it on, alternated."""
    base = {"PYTHONPATH": str(ROOT / "src"), "ASSISTANT_RATE_LIMIT_PER_MINUTE": "100000000",
            "ASSISTANT_TRUSTED_PROXIES": "127.0.0.1"}
    sides = {"log off": {**base, "ASSISTANT_LOG": "off"},
             "log on": {**base, "ASSISTANT_LOG": "on",
                        "ASSISTANT_LOG_URL": f"sqlite:///{work / 'questions.db'}"}}
    servers = {}
    merged: dict[str, dict] = {}
    try:
        for side, env in sides.items():
            servers[side] = start_serve(index, env)
            for body in requests[:3]:
                httpx.post(f"{servers[side][1]}/api/ask", json=body, timeout=120)
        for number in range(rounds):
            for side in sides:
                result = asyncio.run(run_load(servers[side][1], clients, duration, requests))
                into = merged.setdefault(side, {"latencies": [], "outcomes": Counter(), "elapsed": 0.0,
                                                "load_average": result["load_average"]})
                into["latencies"] += result["latencies"]
                into["outcomes"] += result["outcomes"]
                into["elapsed"] += result["elapsed"]
                into["client_cpu_cores"] = max(into.get("client_cpu_cores") or 0.0,
                                               result.get("client_cpu_cores") or 0.0)
                print(f"  round {number + 1} {side}: {summary(result).get('p95_ms')} ms p95", flush=True)
        for side in sides:
            process, url = servers[side]
            figures = summary(merged[side])
            question_log = httpx.get(f"{url}/api/health", timeout=30).json().get("question_log", {})
            results.append({"mode": side, "clients": clients, "abuse": False, **figures,
                            "server": server_figures(process, url), "question_log": question_log,
                            "load_average": merged[side]["load_average"]})
            print(line(side, clients, figures, server_figures(process, url), merged[side]["load_average"]),
                  flush=True)
            print(f"  question log: {question_log}", flush=True)
        off, on = results[-2], results[-1]
        print(f"\nquestion log at {clients} clients, {rounds} alternated rounds of {duration:.0f} s: "
              f"p95 {off['p95_ms']} ms off, {on['p95_ms']} ms on ({on['p95_ms'] / off['p95_ms'] - 1:+.1%}); "
              f"errors {off['errors']} / {on['errors']}; records written "
              f"{on['question_log'].get('written')}, dropped {on['question_log'].get('dropped')}, "
              f"failed {on['question_log'].get('failed')}", flush=True)
    finally:
        for process, _url in servers.values():
            stop_serve(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=None, help="a running server (loopback only) instead of --serve")
    parser.add_argument("--index", type=Path, default=None, help="index to serve (default: a temp "
                        "index of the shipped corpus)")
    parser.add_argument("--clients", default="32,64,128", help="comma-separated client counts")
    parser.add_argument("--modes", default="off,unbatched,batch,batch+cache", help=f"of {', '.join(MODES)}")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run (at most 300)")
    parser.add_argument("--warmup", type=int, default=3, help="sequential requests before measuring")
    parser.add_argument("--abuse-clients", type=int, default=32, help="0 = no abuse mix")
    parser.add_argument("--abuse-burst", type=int, default=60)
    parser.add_argument("--log-clients", type=int, default=32, help="clients for the log on/off runs")
    parser.add_argument("--log-rounds", type=int, default=3, help="off/on rounds (0 = skip)")
    parser.add_argument("--only-log", action="store_true", help="only the log on/off comparison")
    parser.add_argument("--client", choices=("raw", "httpx", "both"), default="raw",
                        help="the load generator: raw HTTP/1.1 sockets (lean) or httpx; both = "
                             "each run with each, in turn")
    parser.add_argument("--json", type=Path, default=ROOT / "eval" / "out" / "load.json")
    args = parser.parse_args()
    kinds = ["raw", "httpx"] if args.client == "both" else [args.client]
    duration = min(args.duration, 300.0)
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise SystemExit(f"unknown mode {unknown[0]}; use {', '.join(MODES)}")
    if args.url and urlsplit(args.url).hostname not in LOOPBACK:
        raise SystemExit("load tests run against loopback only (127.0.0.1 / localhost)")
    requests = dev_requests()
    abuse = abusive_request()
    print(f"{len(requests)} distinct requests; abusive request {len(json.dumps(abuse)) // 1024} KiB; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}", flush=True)
    results: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="load-"))
    try:
        index = args.index or (None if args.url else build_index(work))
        print(HEADER, flush=True)
        for mode in ([None] if args.url else [] if args.only_log else modes):
            process, url = None, (args.url or "").rstrip("/")
            if mode is not None:
                env = {"PYTHONPATH": str(ROOT / "src"), "ASSISTANT_RATE_LIMIT_PER_MINUTE": "100000000",
                       "ASSISTANT_TRUSTED_PROXIES": "127.0.0.1", "ASSISTANT_LOG": "off", **MODES[mode]}
                process, url = start_serve(index, env)
            try:
                for body in requests[: args.warmup]:  # the first answers build lazy parts
                    httpx.post(f"{url}/api/ask", json=body, timeout=120)
                runs = [(clients, False) for clients in counts]
                if args.abuse_clients and mode == modes[-1]:
                    runs += [(args.abuse_clients, False), (args.abuse_clients, True)]
                for (clients, abused), kind in itertools.product(runs, kinds):
                    result = asyncio.run(run_load(url, clients, duration, requests,
                                                  abuse if abused else None, args.abuse_burst,
                                                  raw=kind == "raw"))
                    figures, server = summary(result), server_figures(process, url)
                    record = {"mode": mode or "url", "clients": clients, "abuse": abused, **figures,
                              "client": kind, "client_cpu_cores": result["client_cpu_cores"],
                              "server": server, "load_average": result["load_average"]}
                    label = (" +abuse" if abused else "") + (f" {kind}" if len(kinds) > 1 else "")
                    if abused:
                        record["abuser"] = summary(result, "abuse_latencies", "abuse_outcomes")
                    results.append(record)
                    print(line(mode or "url", clients, figures, server, result["load_average"], label),
                          flush=True)
            finally:
                if process is not None:
                    stop_serve(process)
        if args.log_rounds and not args.url:
            log_comparison(index, work, args.log_clients, args.log_rounds, duration, requests, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    abused = [r for r in results if r["abuse"]]
    if abused:
        plain = [r for r in results if r["mode"] == abused[0]["mode"] and r["clients"] == abused[0]["clients"]
                 and not r["abuse"]][-1]
        abuser = abused[0]["abuser"]
        print(f"\nabuse mix ({abused[0]['mode']}, {abused[0]['clients']} clients): normal clients' p95 "
              f"{plain['p95_ms']} ms without the abuser, {abused[0]['p95_ms']} ms with it "
              f"({abused[0]['p95_ms'] / plain['p95_ms']:.2f}x); "
              f"errors {plain['errors']} / {abused[0]['errors']}. "
              f"Abuser: {abuser['requests']} requests, {abuser['outcomes']}, p50 {abuser.get('p50_ms')} ms")
    by_key = {(r["mode"], r["clients"]): r for r in results if not r["abuse"]}
    # Against both unbatched paths: the one before issue 13 and the one with the traced pass.
    for clients, base_mode in itertools.product(counts, ("off", "unbatched")):
        if (base_mode, clients) in by_key:
            base = by_key[(base_mode, clients)]["requests_per_s"]
            ratios = [f"{mode} {by_key[(mode, clients)]['requests_per_s'] / base:.2f}x"
                      for mode in modes if mode not in ("off", base_mode) and (mode, clients) in by_key]
            if ratios:
                print(f"throughput vs {base_mode} at {clients} clients: {', '.join(ratios)}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
