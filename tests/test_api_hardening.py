"""The HTTP request path hardened (issue 11), in process with FastAPI's TestClient.

Input that is not text, JSON that is too deep or holds huge numbers, bodies that are not
JSON, history over its caps, unknown paths and methods, refused preflights, origins that
differ only by scheme, duplicate Origin headers, a self-contained OpenAPI document. Rate
limits and Gradio's API, which need a real server, are in test_serve_limits.py; the schema
fuzz is in test_api_fuzz.py; guide text in the chat page is in test_api.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.settings import Settings

GUIDES = Path(__file__).parent / "data" / "guides"
JSON = {"Content-Type": "application/json"}
ALLOWED = "http://127.0.0.1:5500"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


def _client(assistant, with_ui: bool = False, **overrides) -> TestClient:
    settings = Settings(corpus=GUIDES, index=assistant.settings.index, rate_limit_per_minute=10_000,
                        **overrides)
    return TestClient(create_app(settings, assistant, with_ui=with_ui))


@pytest.fixture(scope="module")
def client(real_assistant) -> TestClient:
    return _client(real_assistant, allowed_origins=[ALLOWED, "https://guides.example"])


@pytest.fixture(scope="module")
def ui_client(real_assistant) -> TestClient:
    return _client(real_assistant, with_ui=True)


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == status
    assert isinstance(body["error"], str) and body["error"]
    return body


# --- 1. text that is not text ---------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    pytest.param({"question": "Leuven \ud800"}, id="question-lone-surrogate"),
    pytest.param({"question": "Leuven \ue000 salary"}, id="question-private-use"),
    pytest.param({"question": "Leuven \u0378 salary"}, id="question-unassigned"),
    pytest.param({"question": "Leuven \x1b[31m salary"}, id="question-control"),
    pytest.param({"question": "and seniors?", "history": [{"role": "user", "content": "Leuven \ud800"}]},
                 id="history-lone-surrogate"),
])
def test_text_that_is_not_text_gets_422(client: TestClient, payload: dict) -> None:
    # json.dumps writes a lone surrogate as the escape \ud800: valid JSON, not valid text.
    response = client.post("/api/ask", content=json.dumps(payload), headers=JSON)
    assert "binary data, not text" in assert_error(response, 422)["error"]


def test_question_length_counts_raw_characters(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": "salary in Leuven" + " " * 1990})
    assert_error(response, 413)


# --- 2. JSON the reader refuses, bodies that are not JSON ------------------------------------

@pytest.mark.parametrize("body", [
    pytest.param(b"[" * 10_000 + b"]" * 10_000, id="nested-10000-arrays"),
    pytest.param(b'{"question": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001, id="nested-objects"),
    pytest.param(b'{"question": "x", "n": ' + b"7" * 4_301 + b"}", id="int-of-4301-digits"),
    pytest.param(b'{"question": "x", "n": 1' + b"0" * 100 + b".5}", id="long-float"),
    pytest.param(b'{"question": "x", "n": NaN}', id="nan"),
    pytest.param(b'{"question": "x"} trailing', id="trailing-data"),
])
def test_json_the_reader_refuses_gets_400(client: TestClient, body: bytes) -> None:
    assert_error(client.post("/api/ask", content=body, headers=JSON), 400)


@pytest.mark.parametrize("headers", [
    pytest.param({"Content-Type": "text/plain"}, id="text-plain"),
    pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, id="form"),
    pytest.param({}, id="no-content-type"),
])
def test_body_that_is_not_declared_json_gets_415(client: TestClient, headers: dict) -> None:
    body = json.dumps({"question": "What does a junior backend developer earn in Leuven?"})
    assert_error(client.post("/api/ask", content=body, headers=headers), 415)


def test_json_content_type_with_charset_is_json(client: TestClient) -> None:
    response = client.post("/api/ask", content=json.dumps({"question": "hello"}),
                           headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 200


# --- 4. history caps --------------------------------------------------------------------------

def test_history_over_its_caps_gets_413(client: TestClient) -> None:
    turn = {"role": "user", "content": "What does a junior backend developer earn in Leuven?"}
    too_many = client.post("/api/ask", json={"question": "and seniors?", "history": [turn] * 21})
    assert "21 turns" in assert_error(too_many, 413)["error"]
    long_turn = {"role": "user", "content": "salary in Leuven? " * 200}
    too_long = client.post("/api/ask", json={"question": "and seniors?", "history": [long_turn]})
    assert "history turn 1" in assert_error(too_long, 413)["error"]
    # The 120 KB body of 20 user turns of issue 11 is refused before anything is parsed.
    big = [{"role": "user", "content": "What do junior backend developers earn in Leuven? " * 120}] * 20
    assert_error(client.post("/api/ask", json={"question": "and seniors?", "history": big}), 413)


# --- 5. one request model, a self-contained OpenAPI document ----------------------------------

def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(document: dict, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_openapi_is_self_contained(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    refs = _refs(spec)
    assert refs and "#/components/schemas/Turn" in refs
    for ref in refs:
        _resolve(spec, ref)  # raises KeyError on a dangling $ref
    assert "$defs" not in json.dumps(spec)


def test_openapi_serves_the_model_that_validates(client: TestClient) -> None:
    from assistant.request import ask_request_model

    spec = client.get("/api/openapi.json").json()
    body = spec["paths"]["/api/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    served = _resolve(spec, body["$ref"])
    model = ask_request_model(Settings())
    assert served == {k: v for k, v in model.model_json_schema(
        ref_template="#/components/schemas/{model}").items() if k != "$defs"}
    assert served["properties"]["question"]["maxLength"] == 2000
    assert served["properties"]["question"]["minLength"] == 1
    assert served["properties"]["history"]["maxItems"] == 20
    turn = spec["components"]["schemas"]["Turn"]
    assert turn["properties"]["content"]["maxLength"] == 8000
    assert turn["properties"]["role"]["enum"] == ["user", "assistant"]
    documented = set(spec["paths"]["/api/ask"]["post"]["responses"])
    assert {"400", "404", "405", "413", "415", "422", "429"} <= documented


# --- 6. every error under /api/ is JSON --------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/nope", 404),
    ("POST", "/api/nope/deeper", 404),
    ("GET", "/api/", 404),
    ("GET", "/api/ask", 405),
    ("DELETE", "/api/ask", 405),
    ("PUT", "/api/health", 405),
    ("POST", "/api/openapi.json", 405),
])
def test_unknown_paths_and_methods_under_api_get_json(ui_client: TestClient, method: str, path: str,
                                                      status: int) -> None:
    # With the chat page mounted at "/", these used to reach Gradio: {"detail": "Not Found"}.
    response = ui_client.request(method, path)
    assert_error(response, status)
    if status == 405:
        assert response.headers["allow"]


def test_refused_preflight_gets_json(client: TestClient) -> None:
    response = client.options("/api/ask", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PUT"})
    assert "method" in assert_error(response, 400)["error"]
    response = client.options("/api/ask", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "x-secret"})
    assert "headers" in assert_error(response, 400)["error"]


# --- 9. origins ------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", [
    "https://127.0.0.1:5500",      # the listed origin's host and port, another scheme
    "http://guides.example",       # listed as https
    "http://guides.example:443",
    "https://guides.example:8443",
    "https://user@guides.example",
    "https://guides.example/page",
])
def test_origin_must_match_scheme_host_and_port(client: TestClient, origin: str) -> None:
    response = client.post("/api/ask", json={"question": "hello"}, headers={"Origin": origin})
    assert_error(response, 403)
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("origin", [ALLOWED, "https://guides.example", "https://guides.example:443",
                                    "https://GUIDES.example"])
def test_listed_origin_in_any_spelling_is_allowed(client: TestClient, origin: str) -> None:
    response = client.post("/api/ask", json={"question": "hello"}, headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    preflight = client.options("/api/ask", headers={"Origin": origin, **PREFLIGHT})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == origin


def test_same_origin_means_same_scheme(client: TestClient) -> None:
    # TestClient's requests are http://testserver; a page on https://testserver is another origin.
    assert client.post("/api/ask", json={"question": "hello"},
                       headers={"Origin": "http://testserver"}).status_code == 200
    assert_error(client.post("/api/ask", json={"question": "hello"}, headers={"Origin": "https://testserver"}),
                 403)


@pytest.mark.parametrize("origins", [(ALLOWED, "http://evil.example"), ("http://evil.example", ALLOWED),
                                     (ALLOWED, ALLOWED)])
def test_two_origin_headers_are_refused(client: TestClient, origins: tuple[str, str]) -> None:
    headers = [("origin", origins[0]), ("origin", origins[1]), ("content-type", "application/json")]
    response = client.post("/api/ask", content=b'{"question": "hello"}', headers=headers)
    assert "more than one Origin" in assert_error(response, 400)["error"]
    assert "access-control-allow-origin" not in response.headers
