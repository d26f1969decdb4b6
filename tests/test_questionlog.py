"""The question log and feedback (issue 12), on SQLite and on a real PostgreSQL server.

Every test that takes `log_url` runs twice: a SQLite file, and a fresh database on the
session's PostgreSQL server (conftest.py starts it from Debian's package). The assistant is
the fake-embedder one (answers are not what is tested here); the API is driven in process.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.chat import Assistant
from assistant.questionlog import (
    ANSWER_ID,
    NullLog,
    QuestionLog,
    create_log_engine,
    database_url,
    open_question_log,
    utcnow,
)
from assistant.settings import Settings

JUNIOR_LEUVEN = "What does a junior backend developer earn in Leuven?"


def settings_for(fake_assistant, url: str, **overrides) -> Settings:
    return Settings(corpus=fake_assistant.settings.corpus, index=fake_assistant.settings.index,
                    log_url=url, rate_limit_per_minute=10_000, **overrides)


@pytest.fixture
def logged(fake_assistant, fake_embedder, log_url):
    """An assistant over the fake index with a question log on `log_url`."""
    settings = settings_for(fake_assistant, log_url)
    question_log = QuestionLog(settings)
    assistant = Assistant(settings, embedder=fake_embedder, calibration=fake_assistant.calibration,
                          question_log=question_log)
    yield assistant
    question_log.close()


def dump(engine) -> str:
    """Every value of every table, as one string."""
    parts = []
    with engine.connect() as connection:
        for name in sa.inspect(engine).get_table_names():
            for row in connection.execute(sa.text(f'SELECT * FROM "{name}"')):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def test_migrations_make_the_schema_and_run_twice(log_url) -> None:
    settings = Settings(log_url=log_url)
    first = QuestionLog(settings)
    first.close()
    second = QuestionLog(settings)  # an existing database: upgrade is a no-op
    tables = set(sa.inspect(second.engine).get_table_names())
    assert {"answers", "feedback", "alembic_version"} <= tables
    with second.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    second.close()


def test_each_answer_is_one_record_with_its_id(logged) -> None:
    answer = logged.ask(JUNIOR_LEUVEN, interface="api", conversation="conv-1234abcd")
    assert answer.id and ANSWER_ID.match(answer.id) and answer.to_dict()["id"] == answer.id
    refused = logged.ask("What is the capital of Peru?", interface="widget")
    namur = logged.ask("What do data scientists earn in Namur?", interface="chat")
    assert logged.question_log.flush()
    rows = {row["id"]: row for row in logged.question_log.answers_since(None)}
    assert set(rows) == {answer.id, refused.id, namur.id}
    row = rows[answer.id]
    assert row["question"] == JUNIOR_LEUVEN and row["lang"] == "en" and row["interface"] == "api"
    assert row["conversation"] == "conv-1234abcd"
    assert row["places"] == ["Leuven"] and row["roles"] == ["Backend Developers"]
    assert row["guides"] == ["Recruiting Backend Developers in Leuven"]
    assert row["kind"] == "answer" and row["abstained"] is False and row["reason"] is None
    assert row["top_guide"] == answer.sources[0].title and row["top_section"] == answer.sources[0].section
    assert row["latency_ms"] == answer.latency_ms
    assert rows[refused.id]["reason"] == "off_topic" == refused.reason
    assert rows[refused.id]["interface"] == "widget" and rows[refused.id]["conversation"] is None
    assert namur.kind == "refusal" and rows[namur.id]["reason"] == "no_guide" == namur.reason
    assert "Namur" in rows[namur.id]["places"]


def test_a_subject_the_guide_does_not_cover_is_not_covered(logged) -> None:
    answer = logged.ask("Do backend developers in Leuven get a company car and stock options?")
    assert answer.kind == "refusal" and answer.reason == "not_covered"


def test_explain_neither_ids_nor_logs(logged) -> None:
    answer, _ = logged.explain(JUNIOR_LEUVEN)
    assert answer.id is None
    assert logged.question_log.flush() and logged.question_log.answers_since(None) == []


def test_a_full_queue_drops_and_counts_without_blocking(fake_assistant, fake_embedder, log_url,
                                                         monkeypatch) -> None:
    settings = settings_for(fake_assistant, log_url, log_queue_size=2)
    question_log = QuestionLog(settings)
    release = threading.Event()
    write = question_log._write
    monkeypatch.setattr(question_log, "_write", lambda batch: (release.wait(30), write(batch)))
    assistant = Assistant(settings, embedder=fake_embedder, calibration=fake_assistant.calibration,
                          question_log=question_log)
    started = time.perf_counter()
    answers = [assistant.ask(JUNIOR_LEUVEN) for _ in range(8)]
    assert time.perf_counter() - started < 20  # never waited for the blocked writer
    assert all(a.id and not a.abstained for a in answers)
    stats = question_log.stats()
    # the blocked writer holds one batch (at most the queue's 2), the queue 2 more: the rest drop
    assert stats["dropped"] >= 4 and stats["written"] == 0
    app = create_app(settings, assistant, with_ui=False)
    health = TestClient(app).get("/api/health").json()
    assert health["question_log"]["dropped"] == stats["dropped"]
    release.set()
    assert question_log.flush()
    assert question_log.stats()["written"] == 8 - stats["dropped"]
    question_log.close()


def test_a_database_that_fails_never_fails_an_answer(fake_assistant, fake_embedder, log_url) -> None:
    settings = settings_for(fake_assistant, log_url)
    question_log = QuestionLog(settings)
    with question_log.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE feedback"))
        connection.execute(sa.text("DROP TABLE answers"))
    assistant = Assistant(settings, embedder=fake_embedder, calibration=fake_assistant.calibration,
                          question_log=question_log)
    answer = assistant.ask(JUNIOR_LEUVEN)
    assert answer.id and not answer.abstained
    question_log.flush()
    assert question_log.stats()["failed"] == 1
    question_log.close()


def test_retention_at_start_and_daily(fake_assistant, log_url) -> None:
    settings = settings_for(fake_assistant, log_url, log_retention_days=90)
    now = [utcnow()]
    first = QuestionLog(settings, clock=lambda: now[0])
    base = {"conversation": None, "interface": "api", "lang": "en", "places": [], "roles": [],
            "guides": [], "kind": "answer", "abstained": False, "reason": None, "top_guide": None,
            "top_section": None, "latency_ms": 1.0}
    ages = {"a" * 32: 200, "b" * 32: 91, "c" * 32: 89, "d" * 32: 1}
    for answer_id, days in ages.items():
        first.record({**base, "id": answer_id, "question": f"{days} days old",
                      "created_at": now[0] - timedelta(days=days)})
    assert first.flush()
    from assistant.questionlog import Feedback

    first.feedback(Feedback("a" * 32, "down", "old"))
    first.close()
    reopened = QuestionLog(settings, clock=lambda: now[0])  # at start: older than 90 days go
    assert {row["id"] for row in reopened.answers_since(None)} == {"c" * 32, "d" * 32}
    assert reopened.feedback_since(None) == []
    reopened.close()
    # daily: the writer purges again when its period is up, with the clock moved on 2 days
    daily = QuestionLog(settings, clock=lambda: now[0], purge_every_seconds=0.2)
    now[0] += timedelta(days=2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(daily.answers_since(None)) != 1:
        time.sleep(0.1)
    assert {row["id"] for row in daily.answers_since(None)} == {"d" * 32}
    daily.close()


def test_nothing_personal_reaches_the_database(logged, log_url) -> None:
    app = create_app(logged.settings, logged, with_ui=False)
    client = TestClient(app)
    secret_headers = {"User-Agent": "SecretAgent/9.9 (private-ua)", "Cookie": "session=cookie-secret-42",
                      "X-Forwarded-For": "203.0.113.77", "X-Real-IP": "198.51.100.23",
                      "Referer": "https://private-referrer.example/page",
                      "Authorization": "Bearer tok-secret"}
    body = {"question": JUNIOR_LEUVEN, "conversation": "page-conv-0001", "client": "widget"}
    answer = client.post("/api/ask", json=body, headers=secret_headers).json()
    vote = client.post("/api/feedback", json={"id": answer["id"], "rating": "up", "comment": "clear"},
                       headers=secret_headers)
    assert vote.status_code == 201
    assert logged.question_log.flush()
    stored = dump(logged.question_log.engine)
    assert answer["id"] in stored and "page-conv-0001" in stored and "widget" in stored
    for value in ("SecretAgent", "private-ua", "cookie-secret", "203.0.113.77", "198.51.100.23",
                  "private-referrer", "tok-secret", "testclient"):
        assert value not in stored
    columns = {c["name"] for c in sa.inspect(logged.question_log.engine).get_columns("answers")}
    assert not columns & {"ip", "address", "user_agent", "cookie", "headers", "client"}


def test_feedback_endpoint(logged) -> None:
    client = TestClient(create_app(logged.settings, logged, with_ui=False))
    answer_id = client.post("/api/ask", json={"question": JUNIOR_LEUVEN}).json()["id"]
    # at once, while the record may still be queued: it is written first
    created = client.post("/api/feedback",
                          json={"id": answer_id, "rating": "down", "comment": " wrong city "})
    assert created.status_code == 201
    assert created.json() == {"id": answer_id, "rating": "down", "comment": "wrong city"}
    again = client.post("/api/feedback", json={"id": answer_id, "rating": "up"})
    assert again.status_code == 409 and again.json() == {"error": "this answer already has its vote",
                                                         "status": 409}
    unknown = client.post("/api/feedback", json={"id": "0" * 32, "rating": "up"})
    assert unknown.status_code == 404 and unknown.json()["status"] == 404
    for bad in ({"id": "not-an-id", "rating": "up"}, {"id": answer_id.upper(), "rating": "up"},
                {"id": answer_id, "rating": "meh"}, {"id": answer_id}, ["up"],
                {"id": answer_id, "rating": "up", "comment": 5},
                {"id": answer_id, "rating": "up", "extra": 1}):
        response = client.post("/api/feedback", json=bad)
        assert response.status_code == 422 and set(response.json()) == {"error", "status"}, bad
    other = client.post("/api/ask", json={"question": JUNIOR_LEUVEN}).json()["id"]
    long = client.post("/api/feedback", json={"id": other, "rating": "up", "comment": "x" * 501})
    assert long.status_code == 413 and "500" in long.json()["error"]
    form = client.post("/api/feedback", content="id=1", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    stored = logged.question_log.feedback_since(None)
    votes = [(v["answer_id"], v["rating"], v["comment"]) for v in stored]
    assert votes == [(answer_id, "down", "wrong city")]


def test_bad_conversation_or_client_is_a_422(logged) -> None:
    client = TestClient(create_app(logged.settings, logged, with_ui=False))
    for extra in ({"conversation": "short"}, {"conversation": "has spaces in it"},
                  {"conversation": 12345678}, {"client": "browser"}):
        response = client.post("/api/ask", json={"question": JUNIOR_LEUVEN, **extra})
        assert response.status_code == 422 and set(response.json()) == {"error", "status"}, extra


def test_log_off(fake_assistant, fake_embedder, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ASSISTANT_LOG", "off")
    monkeypatch.setenv("ASSISTANT_INDEX", str(tmp_path / "index"))
    settings = Settings()
    assert settings.log is False
    question_log = open_question_log(settings)
    assert isinstance(question_log, NullLog)
    assert not (tmp_path / "questions.db").exists()
    assistant = Assistant(settings_for(fake_assistant, f"sqlite:///{tmp_path / 'q.db'}"),
                          embedder=fake_embedder, calibration=fake_assistant.calibration,
                          question_log=question_log)
    client = TestClient(create_app(assistant.settings, assistant, with_ui=False))
    answer = client.post("/api/ask", json={"question": JUNIOR_LEUVEN}).json()
    assert answer["id"]  # ids still come with answers; there is just no record of them
    vote = client.post("/api/feedback", json={"id": answer["id"], "rating": "up"})
    assert vote.status_code == 404 and "ASSISTANT_LOG=off" in vote.json()["error"]
    assert client.get("/api/health").json()["question_log"] == {"enabled": False}
    assert not (tmp_path / "q.db").exists()


def test_default_database_is_beside_the_index(tmp_path) -> None:
    url = database_url(Settings(index=tmp_path / "data" / ".index"))
    assert url == f"sqlite:///{tmp_path / 'data' / 'questions.db'}"
    assert database_url(Settings(log_url="postgresql://u@h/db")) == "postgresql+psycopg://u@h/db"
    with pytest.raises(ValueError):
        Settings(log_url="mysql://h/db")


def test_an_unreachable_database_leaves_answering_on(fake_assistant, free_port) -> None:
    settings = settings_for(fake_assistant, f"postgresql://nobody@127.0.0.1:{free_port}/none")
    question_log = open_question_log(settings)
    assert isinstance(question_log, NullLog) and question_log.stats()["enabled"] is False
    assert "could not be opened" in question_log.stats()["error"]


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- /admin/insights ------------------------------------------------------------------------

TOKEN = "s3cret-admin-token-0123456789"


def test_admin_route_absent_without_token_and_refuses_a_wrong_one(logged) -> None:
    without = TestClient(create_app(logged.settings, logged, with_ui=False))
    assert without.get("/admin/insights").status_code == 404
    assert without.get("/admin/insights", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    settings = logged.settings.model_copy(update={"admin_token": TOKEN})
    client = TestClient(create_app(settings, logged, with_ui=False))
    logged.ask("What do data scientists earn in Namur?")
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}, {"Cookie": f"token={TOKEN}"}):
        refused = client.get("/admin/insights", headers=headers)
        assert refused.status_code == 401 and refused.json()["status"] == 401, headers
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    page = client.get("/admin/insights", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Namur: 1 question, no guide" in page.text
    report = client.get("/admin/insights?format=json&since=7d",
                        headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert report["questions"] == 1 and report["refusals"]["by_reason"][0]["count"] == 1
    bad = client.get("/admin/insights?since=forever", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 422


def test_short_admin_token_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(admin_token="short")


def test_create_log_engine_sqlite_makes_its_folder(tmp_path) -> None:
    engine = create_log_engine(f"sqlite:///{tmp_path / 'deep' / 'q.db'}")
    with engine.connect():
        pass
    assert (tmp_path / "deep" / "q.db").exists()
    engine.dispose()
