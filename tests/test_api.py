"""HTTP API, protection and chat-page handler tests (DESIGN §5), in process.

A real `Assistant` over a temporary index of tests/data/guides answers the questions; the
app is driven with FastAPI's TestClient. Real-browser tests are in test_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api import MAX_BODY_BYTES, create_app
from assistant.errors import IndexUnavailableError
from assistant.ratelimit import RateLimiter
from assistant.settings import Settings

GUIDES = Path(__file__).parent / "data" / "guides"
JUNIOR_LEUVEN = "What does a junior backend developer earn in Leuven?"
ALLOWED = "http://127.0.0.1:5500"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def assistant(real_assistant):
    return real_assistant


def make_client(assistant, with_ui: bool = False, **overrides) -> TestClient:
    settings = Settings(corpus=GUIDES, index=assistant.settings.index, **overrides)
    return TestClient(create_app(settings, assistant, with_ui=with_ui))


@pytest.fixture(scope="module")
def client(assistant) -> TestClient:
    return make_client(assistant, rate_limit_per_minute=10_000)


@pytest.fixture(scope="module")
def ui_client(assistant) -> TestClient:
    return make_client(assistant, with_ui=True, rate_limit_per_minute=10_000)


# --- answers ------------------------------------------------------------------------------


def test_ask_returns_the_answer_object(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": JUNIOR_LEUVEN, "history": []})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"answer", "abstained", "sources", "facts", "latency_ms"}
    assert "€37,080 – €49,440" in body["answer"] and body["abstained"] is False
    source = body["sources"][0]
    assert set(source) == {"title", "section", "file", "url", "score", "quote"}
    assert source["title"] == "Recruiting Backend Developers in Leuven"
    assert "€37,080 – €49,440" in source["quote"]
    assert {"level": "Junior", "min": 37080, "max": 49440}.items() <= body["facts"][0].items()
    # a .txt guide links to its page on the site: base URL + the file's slug
    assert source["url"] == "https://www.bedevs.be/hiring/backend-developers-in-leuven"


def test_follow_up_uses_the_history_sent(client: TestClient) -> None:
    first = client.post("/api/ask", json={"question": JUNIOR_LEUVEN}).json()
    history = [{"role": "user", "content": JUNIOR_LEUVEN},
               {"role": "assistant", "content": first["answer"]}]
    second = client.post("/api/ask", json={"question": "and seniors?", "history": history}).json()
    assert "€61,800 – €87,550" in second["answer"]
    assert second["sources"][0]["title"] == "Recruiting Backend Developers in Leuven"
    alone = client.post("/api/ask", json={"question": "and seniors?"}).json()
    assert "€61,800 – €87,550" not in alone["answer"]  # the context came from the history


def test_uncovered_city_abstains(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "Backend developer salaries in Hasselt?"}).json()
    # Belgium-wide guide stands in, labelled; or a refusal. Never Leuven's figures.
    assert "€37,080" not in body["answer"] and "€61,800" not in body["answer"]


def test_health_lists_the_index(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["guides"] == len(list(GUIDES.iterdir()))
    assert "Leuven" in body["places"] and "Backend Developers" in body["roles"]
    assert "model_load_ms" in body  # null until the model has loaded, then the load's ms


def test_model_load_is_reported_apart_from_the_answers_latency(fake_assistant) -> None:
    """A model that takes a second to load: that second is the load's, not the answer's."""
    import time

    from pydantic import PrivateAttr

    from assistant.chat import Assistant
    from conftest import FakeEmbedding

    class SlowToLoad(FakeEmbedding):
        _loaded: bool = PrivateAttr(default=False)

        def load(self) -> None:
            if not self._loaded:
                time.sleep(1.0)
                self._loaded = True

        def _get_query_embedding(self, query: str) -> list[float]:
            self.load()
            return super()._get_query_embedding(query)

    slow = SlowToLoad()
    assistant = Assistant(fake_assistant.settings, embedder=slow, calibration=fake_assistant.calibration)
    assert assistant.model_load_ms is None
    assert assistant.load_model() >= 1000 and assistant.model_load_ms >= 1000
    answer = assistant.ask(JUNIOR_LEUVEN)
    assert "€37,080 – €49,440" in answer.answer and answer.latency_ms < assistant.model_load_ms
    health = make_client(assistant).get("/api/health").json()
    assert health["model_load_ms"] == assistant.model_load_ms


def test_health_shows_precision_batching_and_cache(client: TestClient) -> None:
    question = {"question": "Which universities are there near Leuven for backend developers?"}
    assert client.post("/api/ask", json=question).status_code == 200
    before = client.get("/api/health").json()["embedding"]
    assert client.post("/api/ask", json=question).status_code == 200
    after = client.get("/api/health").json()
    embedding = after["embedding"]
    assert embedding["model"]["loaded"] is True
    assert embedding["model"]["precision"] in ("float32", "bfloat16")
    assert embedding["model"]["reason"]
    assert embedding["batching"]["enabled"] is True
    assert embedding["batching"]["max_batch"] == 32 and embedding["batching"]["max_wait_ms"] == 3.0
    assert embedding["batching"]["items"] >= 1
    assert embedding["cache"]["capacity"] == 4096
    assert embedding["cache"]["hits"] == before["cache"]["hits"] + 1  # the same question again
    assert embedding["cache"]["misses"] == before["cache"]["misses"]
    assert after["answers_in_progress"] == 0


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert {"/api/ask", "/api/health"} <= set(spec["paths"])
    assert {"400", "413", "422", "429"} <= set(spec["paths"]["/api/ask"]["post"]["responses"])
    assert client.get("/api/docs").status_code == 200


def test_api_docs_page_loads_only_local_assets(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert links and all(link.startswith("/api/docs/assets/") for link in links), links
    assert "cdn" not in page.text.lower() and "'/api/openapi.json'" in page.text
    for link in links:
        asset = client.get(link)
        assert asset.status_code == 200 and len(asset.content) > 0, link
    assert "SwaggerUIBundle" in client.get("/api/docs/assets/swagger-ui-bundle.js").text
    # only the named files: nothing else of the package, no path out of it
    for other in ("index.css", "swagger-editor.js", "..%2F__init__.py", "LICENSE"):
        response = client.get(f"/api/docs/assets/{other}")
        assert response.status_code == 404 and response.json()["status"] == 404, other


# --- errors (DESIGN §5): JSON with the status -----------------------------------------------

BAD_REQUESTS = [
    pytest.param({"json": {"question": ""}}, 422, id="empty-question"),
    pytest.param({"json": {"question": "   \n "}}, 422, id="blank-question"),
    pytest.param({"json": {"history": []}}, 422, id="no-question"),
    pytest.param({"json": {"question": 42}}, 422, id="question-not-text"),
    pytest.param({"json": ["What do juniors earn in Leuven?"]}, 422, id="not-an-object"),
    pytest.param({"json": {"question": "hi", "history": [{"role": "system", "content": "x"}]}}, 422,
                 id="bad-history-turn"),
    pytest.param({"json": {"question": "hi", "history": "nope"}}, 422, id="history-not-a-list"),
    pytest.param({"json": {"question": "a" * 2001}}, 413, id="question-over-2000"),
    pytest.param({"content": b'{"question": "salary in Leuven"', "headers": JSON}, 400, id="malformed-json"),
    pytest.param({"content": b"\xff\xfe\x00junk", "headers": JSON}, 400, id="not-utf8"),
    pytest.param({"content": b"", "headers": JSON}, 400, id="empty-body"),
    pytest.param({"content": json.dumps({"question": "x", "pad": "a" * MAX_BODY_BYTES}).encode(),
                  "headers": JSON}, 413, id="body-too-large"),
]


@pytest.mark.parametrize(("request_kwargs", "status"), BAD_REQUESTS)
def test_bad_requests_get_json_errors(client: TestClient, request_kwargs: dict, status: int) -> None:
    response = client.post("/api/ask", **request_kwargs)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]


def test_question_of_exactly_2000_characters_is_accepted(client: TestClient) -> None:
    question = ("salary in Leuven " * 200)[:2000]
    assert client.post("/api/ask", json={"question": question}).status_code == 200


def test_body_without_content_length_is_bounded(client: TestClient) -> None:
    def chunks():
        yield b'{"question": "x", "pad": "'
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b"a" * 1024
        yield b'"}'

    response = client.post("/api/ask", content=chunks(), headers=JSON)
    assert response.status_code == 413 and response.json()["status"] == 413


class _BrokenAssistant:
    """Stands in for an assistant whose Chroma server went away."""

    def __init__(self, catalogue) -> None:
        self.catalogue = catalogue

    def ask(self, question, history=None, deadline=None, **where):
        raise IndexUnavailableError("the Chroma server at http://chroma:8000 cannot be reached")


def test_core_errors_keep_their_status(assistant) -> None:
    app = create_app(Settings(), _BrokenAssistant(assistant.catalogue), with_ui=False)
    response = TestClient(app).post("/api/ask", json={"question": JUNIOR_LEUVEN})
    assert response.status_code == 503
    assert response.json() == {"error": "the Chroma server at http://chroma:8000 cannot be reached",
                               "status": 503}


def test_an_answer_over_its_time_budget_is_a_json_503(assistant) -> None:
    # A budget no answer fits in: the answer stops at its first step, never runs to the end.
    over = make_client(assistant, rate_limit_per_minute=10_000, answer_budget_seconds=1e-6)
    response = over.post("/api/ask", json={"question": JUNIOR_LEUVEN})
    assert response.status_code == 503
    assert response.json() == {"error": "the answer took longer than this server allows; try again",
                               "status": 503}
    assert response.headers["Retry-After"] == "1"
    assert over.get("/api/health").json()["answers_in_progress"] == 0


# --- rate limit ---------------------------------------------------------------------------


def test_rate_limit_returns_429_json_per_client(assistant) -> None:
    limited = make_client(assistant, rate_limit_per_minute=3)
    statuses = [limited.post("/api/ask", json={"question": "hello"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = limited.post("/api/ask", json={"question": "hello"})
    assert refused.status_code == 429 and refused.json()["status"] == 429
    assert int(refused.headers["retry-after"]) >= 1
    other = TestClient(limited.app, client=("10.0.0.2", 4000))  # another address has its own budget
    assert other.post("/api/ask", json={"question": "hello"}).status_code == 200
    assert limited.get("/api/health").status_code == 200  # health is not rate limited


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.allow("a")[0] for _ in range(60))
    allowed, wait = limiter.allow("a")
    assert not allowed and wait == pytest.approx(1.0)
    assert limiter.allow("b")[0]
    now[0] += 1.0
    assert limiter.allow("a")[0] and not limiter.allow("a")[0]


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(5, max_clients=100)
    for number in range(1000):
        limiter.allow(f"10.0.{number // 256}.{number % 256}")
    assert len(limiter._buckets) <= 100


# --- cross-origin access ------------------------------------------------------------------

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


@pytest.fixture(scope="module")
def cors_client(assistant) -> TestClient:
    return make_client(assistant, allowed_origins=[ALLOWED], rate_limit_per_minute=10_000)


def test_listed_origin_gets_cors_headers(cors_client: TestClient) -> None:
    preflight = cors_client.options("/api/ask", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    response = cors_client.post("/api/ask", json={"question": JUNIOR_LEUVEN}, headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED


@pytest.mark.parametrize("origin", ["http://127.0.0.1:5501", "http://evil.example", "null",
                                    "http://127.0.0.1:5500.evil.example"])
@pytest.mark.parametrize("method", ["preflight", "post"])
def test_unlisted_origin_is_refused(cors_client: TestClient, origin: str, method: str) -> None:
    if method == "preflight":
        response = cors_client.options("/api/ask", headers={"Origin": origin, **PREFLIGHT})
    else:
        response = cors_client.post("/api/ask", json={"question": JUNIOR_LEUVEN}, headers={"Origin": origin})
    assert response.status_code == 403
    assert response.json()["status"] == 403
    assert "access-control-allow-origin" not in response.headers


def test_default_is_same_origin_only(client: TestClient) -> None:
    same = client.post("/api/ask", json={"question": JUNIOR_LEUVEN}, headers={"Origin": "http://testserver"})
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
    assert client.post("/api/ask", json={"question": "hello"}).status_code == 200  # no Origin: not a browser
    other = client.post("/api/ask", json={"question": "hello"}, headers={"Origin": ALLOWED})
    assert other.status_code == 403


def test_allowed_origins_env_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_ALLOWED_ORIGINS", "http://127.0.0.1:5500, https://guides.example/")
    assert Settings().allowed_origins == ["http://127.0.0.1:5500", "https://guides.example"]


# --- widget files and the chat page -------------------------------------------------------


def test_widget_script_is_served(client: TestClient) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert "attachShadow" in response.text
    # Server text goes into the page as text only; the script never parses HTML strings.
    assert "innerHTML" not in response.text and "insertAdjacentHTML" not in response.text


def test_widget_demo_page_is_served(client: TestClient) -> None:
    response = client.get("/widget/demo")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert '<script src="/widget.js"' in response.text and "!important" in response.text


@pytest.mark.parametrize("path", [
    "/widget/..%2F..%2Fpyproject.toml", "/widget.js/..%2F..%2Fpyproject.toml", "/widget/widget.js",
    "/ui/widget/demo.html", "/pyproject.toml", "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=pyproject.toml", "/gradio_api/file=tests/data/guides/backend-developers-in-leuven.txt",
    "/file=/etc/passwd", "/static/..%2F..%2F..%2Fpyproject.toml", "/assets/..%2F..%2Fpyproject.toml",
])
def test_no_route_serves_other_files(ui_client: TestClient, path: str) -> None:
    response = ui_client.get(path)
    assert "root:x:0:0" not in response.text
    assert "[build-system]" not in response.text
    assert "Everything you need to know" not in response.text
    assert response.status_code in (400, 403, 404, 405)


def test_chat_page_is_mounted_at_root(ui_client: TestClient) -> None:
    response = ui_client.get("/")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert ui_client.get("/api/health").status_code == 200  # the API still wins over the mount


def test_chat_page_config(assistant) -> None:
    from assistant.answer import example_questions
    from assistant.ui import build_chat

    chat = build_chat(assistant)
    assert chat.analytics_enabled is False
    assert [fn.api_name for fn in chat.fns.values() if fn.api_name == "chat"] == ["chat"]
    examples = [example[0] if isinstance(example, list) else example for example in chat.examples]
    assert examples == example_questions(assistant.catalogue, "en") and len(examples) >= 2
    places = [p for p in assistant.catalogue.places]
    assert all(any(place in example for place in places) for example in examples)


def test_chat_handler_reply_has_answer_chart_and_sources(assistant) -> None:
    from assistant.ui import build_chat

    messages = build_chat(assistant).fn(JUNIOR_LEUVEN, [], None)
    assert "€37,080 – €49,440" in messages[0].content
    assert all(isinstance(m.content, str) for m in messages)  # JSON for Gradio's /chat API
    charts = [m for m in messages if m.content.startswith('<div class="salary-chart"')]
    assert len(charts) == 1 and "€37,080 – €49,440" in charts[0].content
    sources = [m.content for m in messages if m.content.startswith('<div class="sources"')]
    # open, not collapsed (no metadata title); the answer's id rides in its first message
    assert len(sources) == 1 and not any((m.metadata or {}).get("title") for m in messages)
    assert len(messages[0].metadata["id"]) == 32
    # a link to the guide's page; the quoted row as a small table, no Markdown pipes
    assert ('<a class="source-link" href="https://www.bedevs.be/hiring/backend-developers-in-leuven"'
            in sources[0])
    assert "Recruiting Backend Developers in Leuven › Salary Ranges</a>" in sources[0]
    assert "<td>Junior</td><td>€37,080 – €49,440</td>" in sources[0] and "|" not in sources[0]
    assert '<div class="sources-label">Source</div>' in sources[0]


@pytest.mark.parametrize(("question", "source_label"), [
    ("Hoeveel verdient een junior backend developer in Leuven?", "Bron"),
    ("Combien gagne un développeur backend junior à Louvain ?", "Source"),
])
def test_chat_labels_follow_the_answers_language(assistant, question: str, source_label: str) -> None:
    from assistant.ui import build_chat

    messages = build_chat(assistant).fn(question, [], None)
    assert "€37,080 – €49,440" in messages[0].content
    sources = next(m.content for m in messages if m.content.startswith('<div class="sources"'))
    assert f'<div class="sources-label">{source_label}</div>' in sources
    chart = next(m.content for m in messages if m.content.startswith('<div class="salary-chart"'))
    period = "bruto per jaar" if source_label == "Bron" else "brut par an"
    assert period in chart and "gross" not in chart


def test_quotes_render_as_text_not_markdown() -> None:
    from assistant.ui import quote_html

    assert quote_html("- imec\n- Barco (R&D)") == (
        '<ul class="quote-list"><li>imec</li><li>Barco (R&amp;D)</li></ul>')
    table = quote_html("| Level | Salary |\n|---|---|\n| Senior | €61,800 – €87,550 |")
    assert table == ('<table class="quote-table"><tr><td>Level</td><td>Salary</td></tr>'
                     "<tr><td>Senior</td><td>€61,800 – €87,550</td></tr></table>")
    assert quote_html("Leuven is <b>small</b>.") == "<p>Leuven is &lt;b&gt;small&lt;/b&gt;.</p>"


def test_salary_chart_shares_the_guides_scale_across_levels(assistant) -> None:
    from assistant.ui import guide_scale, salary_chart

    widths = {}
    for level in ("junior", "senior"):
        answer = assistant.ask(f"What does a {level} backend developer earn in Leuven?")
        scale = guide_scale(assistant.catalogue, answer.facts)
        assert scale == 87550  # the guide's highest salary, whichever level was asked
        chart = salary_chart(answer.facts, "en", scale)
        assert 'class="salary-axis"' in chart and ">€0<" in chart and ">€100k<" in chart
        left, width = re.search(r'class="salary-bar"[^>]*left:([\d.]+)%;width:([\d.]+)%', chart).groups()
        widths[level] = float(left) + float(width)
    # the bars end where their maxima sit on the one scale: 49,440 and 87,550 of 100,000
    assert widths == {"junior": pytest.approx(49.44, abs=0.01), "senior": pytest.approx(87.55, abs=0.01)}


def test_page_description_counts_guides_in_the_singular_too() -> None:
    from assistant.ui import guide_count

    assert guide_count(1) == "1 recruiting guide" and guide_count(6) == "6 recruiting guides"


def test_refusal_names_no_boilerplate_section(assistant) -> None:
    answer = assistant.ask("Welke vakbonden zijn er in Leuven voor backend developers?")
    assert answer.kind == "refusal"
    assert "Introduction" not in answer.answer and "Browse" not in answer.answer
    assert "Salary Ranges" in answer.answer or "en meer" in answer.answer


def test_chat_handler_follow_up_reads_gradio_history(assistant) -> None:
    from assistant.ui import build_chat

    fn = build_chat(assistant).fn
    first = fn(JUNIOR_LEUVEN, [], None)
    history = [{"role": "user", "content": [{"type": "text", "text": JUNIOR_LEUVEN}]}]
    history += [{"role": "assistant", "content": m.content, "metadata": m.metadata} for m in first]
    second = fn("and seniors?", history, None)
    assert "€61,800 – €87,550" in second[0].content


def test_salary_chart_compares_places_side_by_side(assistant) -> None:
    from assistant.ui import salary_chart

    answer = assistant.ask("Compare senior backend developer salaries in Leuven and Ghent")
    chart = salary_chart(answer.facts)
    assert chart is not None
    assert chart.count('class="salary-panel"') == 2 and "display:flex" in chart
    assert "Leuven" in chart and "Ghent" in chart
    assert salary_chart([]) is None


def test_chat_text_is_escaped_not_markup() -> None:
    from assistant.ui import escape_markdown, unescape_markdown

    text = "<img src=x onerror=alert(1)> *bold* [link](http://x) | a |"
    escaped = escape_markdown(text)
    assert "<" not in escaped and "&lt;img" in escaped
    assert "\\*bold\\*" in escaped and "\\[link\\]" in escaped
    assert unescape_markdown(escaped) == text


def test_source_title_and_section_are_escaped() -> None:
    from assistant.answer import Source
    from assistant.ui import sources_html

    source = Source(title='Recruiting <img src=x onerror="alert(1)"> in Leuven',
                    section="**Salary** <script>alert(2)</script>", file="x.txt",
                    url='https://x.example/"><script>alert(3)</script>', score=0.5,
                    quote="| Junior | <b>€1</b> |")
    block = sources_html([source])
    assert "&lt;img" in block and "&lt;script&gt;" in block and "&lt;b&gt;€1&lt;/b&gt;" in block
    assert "<img" not in block and "<script" not in block and "<b>" not in block
    assert 'href="https://x.example/&quot;&gt;&lt;script&gt;' in block  # the url stays one attribute
    source.url = "javascript:alert(4)"  # never a link to anything but a web page
    assert "href" not in sources_html([source]) and "javascript" not in sources_html([source])


def test_chat_reply_has_no_markup_from_the_guides(assistant) -> None:
    from assistant import ui

    answer = assistant.ask("What does a junior backend developer earn in Leuven?")
    hostile = '<img src=x onerror="alert(1)">'
    answer.answer += hostile
    for source in answer.sources:
        source.title, source.section, source.quote = hostile, hostile, hostile
    for fact in answer.facts:
        fact.update(role=hostile, city=hostile, level=hostile, period=hostile)
    for lang in ("en", "nl"):
        for message in ui.reply_messages(answer, lang, 90000):
            assert "<img" not in message.content and "<img" not in (message.metadata or {}).get("title", "")
