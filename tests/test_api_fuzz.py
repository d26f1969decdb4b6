"""A bounded schema fuzz of `POST /api/ask` (issue 11): never a 5xx, every error in the
documented shape `{"error": str, "status": int}` with the status of the response.

Requests are drawn from the served request model's own JSON schema (its limits), then bent:
lengths at and past each limit, any Unicode (lone surrogates, controls, private use), wrong
types, arbitrary JSON, raw bytes, other content types. Derandomized and a few hundred
examples in all, so it is the same short run every time; no timing is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.api import create_app
from assistant.request import ask_request_model
from assistant.settings import Settings

GUIDES = Path(__file__).parent / "data" / "guides"
SETTINGS = Settings()
SCHEMA = ask_request_model(SETTINGS).model_json_schema()
QUESTION = SCHEMA["properties"]["question"]
HISTORY = SCHEMA["properties"]["history"]
TURN = SCHEMA["$defs"]["Turn"]["properties"]
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
DOCUMENTED = {200, 400, 403, 404, 405, 413, 415, 422, 429}

any_char = st.characters(codec=None)  # every code point, surrogates included
words = st.sampled_from(["salary", "Leuven", "Ghent", "junior", "senior", "backend", "developers",
                         "and", "what", "?", "hello", "\n", "\t"])


def _text_near(limit: int) -> st.SearchStrategy[str]:
    """Short text of any characters, or text of about `limit` characters (at, just under,
    just over), so the limits are hit on both sides."""
    sizes = st.sampled_from([limit - 1, limit, limit + 1])
    sized = st.tuples(sizes, st.text(any_char, min_size=1, max_size=3))
    return st.one_of(
        st.text(any_char, max_size=40),
        st.lists(words, max_size=12).map(" ".join),
        sized.map(lambda pair: (pair[1] * pair[0])[:pair[0]]),
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(any_char, max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)

turns = st.fixed_dictionaries({
    "role": st.sampled_from(TURN["role"]["enum"]) | json_values,
    "content": _text_near(QUESTION["maxLength"]) | _text_near(TURN["content"]["maxLength"]) | json_values,
}) | json_values

payloads = st.one_of(
    st.fixed_dictionaries({"question": _text_near(QUESTION["maxLength"])},
                          optional={"history": st.lists(turns, max_size=HISTORY["maxItems"] + 2)
                                    | json_values}),
    st.fixed_dictionaries({"question": json_values}),
    json_values,
)


@pytest.fixture(scope="module")
def client(real_assistant) -> TestClient:
    app = create_app(Settings(corpus=GUIDES, index=real_assistant.settings.index,
                              rate_limit_per_minute=1_000_000), real_assistant, with_ui=False)
    return TestClient(app, raise_server_exceptions=False)


def _check(response) -> None:
    assert response.status_code < 500, response.text
    assert response.status_code in DOCUMENTED, response.status_code
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"error", "status"}, body
        assert body["status"] == response.status_code and isinstance(body["error"], str) and body["error"]
    else:
        assert isinstance(body["answer"], str) and isinstance(body["abstained"], bool)


def _dumps(payload: Any) -> bytes:
    # ensure_ascii writes lone surrogates as \ud800 escapes: valid JSON, not valid text.
    return json.dumps(payload, ensure_ascii=True).encode()


@FUZZ
@given(payload=payloads)
def test_fuzzed_requests_get_an_answer_or_a_documented_error(client: TestClient, payload: Any) -> None:
    _check(client.post("/api/ask", content=_dumps(payload), headers={"Content-Type": "application/json"}))


@settings(FUZZ, max_examples=80)
@given(body=st.binary(max_size=200) | payloads.map(_dumps).map(lambda b: b[: len(b) // 2]),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                     "", "multipart/form-data; boundary=x"]))
def test_fuzzed_bodies_get_a_documented_error(client: TestClient, body: bytes, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    _check(client.post("/api/ask", content=body, headers=headers))
