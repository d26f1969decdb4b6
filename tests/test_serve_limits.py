"""The app served for real on loopback (issue 11): rate limits that hold whichever route or
header a client uses, and Gradio's `/chat` API.

Each test starts uvicorn itself, in a thread of this process, with `server_options` (the
options `assistant serve` runs it with) on a free loopback port, over the session's
assistant. Nothing is timed: waits are upper bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from assistant.api import create_app, server_options
from assistant.settings import Settings

GUIDES = Path(__file__).parent / "data" / "guides"
JUNIOR_LEUVEN = "What does a junior backend developer earn in Leuven?"
STARTUP_WAIT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(assistant, with_ui: bool = False, **overrides) -> Iterator[str]:
    settings = Settings(corpus=GUIDES, index=assistant.settings.index, host="127.0.0.1",
                        port=_free_port(), **overrides)
    app = create_app(settings, assistant, with_ui=with_ui)
    server = uvicorn.Server(uvicorn.Config(app, **server_options(settings), log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_WAIT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _ask(url: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return httpx.post(f"{url}/api/ask", json={"question": "hello"}, headers=headers, timeout=60).status_code


def test_forwarded_for_is_not_trusted_by_default(real_assistant) -> None:
    # uvicorn trusts X-Forwarded-For from loopback unless told otherwise: a new address in
    # each request would be a new rate-limit budget each time.
    with serving(real_assistant, rate_limit_per_minute=2) as url:
        statuses = [_ask(url, f"203.0.113.{n}") for n in range(3)]
    assert statuses == [200, 200, 429]


def test_forwarded_for_counts_from_a_listed_proxy(real_assistant) -> None:
    with serving(real_assistant, rate_limit_per_minute=2, trusted_proxies=["127.0.0.1"]) as url:
        clients = [_ask(url, f"203.0.113.{n}") for n in range(3)]  # three clients behind the proxy
        same = [_ask(url, "198.51.100.7") for _ in range(3)]
    assert clients == [200, 200, 200] and same == [200, 200, 429]


def test_trusted_proxies_env_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_TRUSTED_PROXIES", "10.0.0.1, 10.1.0.0/16")
    settings = Settings()
    assert settings.trusted_proxies == ["10.0.0.1", "10.1.0.0/16"]
    assert server_options(settings)["forwarded_allow_ips"] == ["10.0.0.1", "10.1.0.0/16"]
    assert server_options(Settings(trusted_proxies=[]))["proxy_headers"] is False


def _gradio_chat(client: httpx.Client, question: str) -> tuple[str, object]:
    """Gradio's documented two-step call: POST the inputs, read the event stream."""
    started = client.post("/gradio_api/call/chat", json={"data": [question, []]})
    assert started.status_code == 200, started.text
    stream = client.get(f"/gradio_api/call/chat/{started.json()['event_id']}")
    event, data = "", None
    for line in stream.text.splitlines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data = json.loads(line.removeprefix("data:").strip() or "null")
    return event, data


def test_gradio_chat_api_returns_json_for_a_salary_answer(real_assistant) -> None:
    with serving(real_assistant, with_ui=True, rate_limit_per_minute=10_000) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        event, data = _gradio_chat(client, JUNIOR_LEUVEN)
    assert event == "complete", data
    assert "€37,080 – €49,440" in json.dumps(data, ensure_ascii=False)


def test_gradio_chat_api_takes_from_the_same_rate_limit(real_assistant) -> None:
    with serving(real_assistant, with_ui=True, rate_limit_per_minute=2) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        events = [_gradio_chat(client, "hello")[0] for _ in range(3)]
        api = client.post("/api/ask", json={"question": "hello"})
        upload = client.post("/gradio_api/upload", files={"files": ("a.txt", b"hello")})
    assert events == ["complete", "complete", "error"]  # Gradio reports a refusal as an error event
    assert api.status_code == 429 and api.json()["status"] == 429  # one budget for every route
    # Nothing on the chat page uploads files, so Gradio's upload route is closed.
    assert upload.status_code == 404 and upload.json() == {"error": "not found", "status": 404}


def test_the_load_generators_raw_client_reads_every_answer(real_assistant) -> None:
    # eval/load.py's lean client parses responses itself: a misread body would desynchronise
    # its kept-alive connection, and every later request would count as an error.
    sys.path.insert(0, str(Path(__file__).parents[1] / "eval"))
    import load

    with serving(real_assistant, rate_limit_per_minute=3, trusted_proxies=["127.0.0.1"]) as url:
        result = asyncio.run(load.run_load(url, clients=2, duration=1.0,
                                           requests=[{"question": JUNIOR_LEUVEN}], raw=True))
    outcomes = result["outcomes"]
    assert outcomes["200"] == 6 and outcomes["429"] >= 2, outcomes  # 3 each, then limited
    assert set(outcomes) == {"200", "429"}
    assert 0 <= result["client_cpu_cores"] < 2
    # The printed row, also for merged rounds that carry no client CPU figure.
    figures = load.summary(result)
    for cpu in (figures["client_cpu_cores"], None):
        row = load.line("batch+cache", 2, {**figures, "client_cpu_cores": cpu}, {}, [0.5, 0.7])
        assert row.startswith("batch+cache") and "0.5-0.7" in row
