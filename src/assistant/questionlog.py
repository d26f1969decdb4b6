"""The question log (issue 12): one record per answer, and the 👍/👎 feedback on answers.

- **What a record holds** (`record_of` in chat.py builds it): the answer id, the time (UTC),
  the conversation id the page sent (random, made in the page; none from the CLI), the
  interface (api, widget, chat, cli), the question text and its language, the places and roles
  the question named (those without a guide too), the routed guides, the answer's kind,
  whether it abstained and why (`no_guide`, `not_covered`, `off_topic`), its top source
  (guide title and section) and its latency. Never an IP address, a cookie, a user agent or
  any other header: nothing from the HTTP request reaches a record but its JSON body's
  `conversation` field.
- **Storage**: SQLAlchemy over SQLite (default: `questions.db` beside the index) or
  PostgreSQL (`ASSISTANT_LOG_URL`), its schema made by Alembic migrations
  (`assistant/migrations/`), run at start; on PostgreSQL under an advisory lock, so that
  several replicas starting together do not race.
- **Off the request path**: `record()` puts the record on a bounded queue and returns; one
  background thread writes what is queued in batches (one transaction each). A full queue
  drops the record and counts it; a failed write is logged and counted. An answer never
  waits for, or fails because of, the log.
- **Retention**: records (and their feedback) older than `ASSISTANT_LOG_RETENTION_DAYS` are
  deleted when the log opens, then once a day by the writer thread.
- **Feedback** is written at once (the caller needs to know a bad id or a repeated vote);
  an answer still in the queue is written first.

`ASSISTANT_LOG=off` gives a `NullLog`: nothing is stored and feedback is refused. This file
does not compute the report (insights.py) and does not know HTTP.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .errors import AlreadyVoted, InputError, NotFound, QuestionTooLong
from .request import first_non_text
from .settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
INTERFACES = ("api", "widget", "chat", "cli")
REASONS = ("no_guide", "not_covered", "off_topic")
RATINGS = ("up", "down")
MAX_COMMENT_CHARS = 500
ANSWER_ID = re.compile(r"^[0-9a-f]{32}$")
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
BATCH_SIZE = 500
PURGE_EVERY_SECONDS = 24 * 3600
# A stable number for pg_advisory_xact_lock: replicas that start together migrate one by one.
MIGRATION_LOCK = 0x1A55_0012

METADATA = sa.MetaData()
ANSWERS = sa.Table(
    "answers", METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", sa.DateTime(), nullable=False, index=True),
    sa.Column("conversation", sa.String(64), nullable=True),
    sa.Column("interface", sa.String(16), nullable=False),
    sa.Column("question", sa.Text(), nullable=False),
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("places", sa.JSON(), nullable=False),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("guides", sa.JSON(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("abstained", sa.Boolean(), nullable=False),
    sa.Column("reason", sa.String(16), nullable=True),
    sa.Column("top_guide", sa.String(300), nullable=True),
    sa.Column("top_section", sa.String(300), nullable=True),
    sa.Column("latency_ms", sa.Float(), nullable=False),
)
FEEDBACK = sa.Table(
    "feedback", METADATA,
    sa.Column("answer_id", sa.String(32), sa.ForeignKey("answers.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("rating", sa.String(4), nullable=False),
    sa.Column("comment", sa.Text(), nullable=True),
)


def utcnow() -> datetime:
    # Stored naive, in UTC: SQLite has no time zones, and one convention serves both databases.
    return datetime.now(UTC).replace(tzinfo=None)


def new_answer_id() -> str:
    return uuid.uuid4().hex


def database_url(settings: Settings) -> str:
    """The log's SQLAlchemy URL: `ASSISTANT_LOG_URL` (postgresql:// goes through psycopg 3),
    else a SQLite file `questions.db` beside the index folder."""
    url = settings.log_url
    if url is None:
        return f"sqlite:///{(Path(settings.index).resolve().parent / 'questions.db')}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def create_log_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The writer thread and request threads share the engine; a write waits up to 30 s
        # for another process's write lock instead of failing at once.
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers (the report) never block the writer
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic `upgrade head`)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@dataclass(frozen=True)
class Feedback:
    answer_id: str
    rating: str
    comment: str | None


def validate_feedback(payload: Any) -> Feedback:
    """`{"id", "rating": "up"|"down", "comment"?}` checked, or the error to show (422, 413)."""
    if not isinstance(payload, dict):
        raise InputError('expected a JSON object {"id": str, "rating": "up"|"down", "comment": str}')
    unknown = sorted(set(payload) - {"id", "rating", "comment"})
    if unknown:
        raise InputError(f"unknown field {unknown[0]!r}; expected id, rating and comment")
    answer_id = payload.get("id")
    if not isinstance(answer_id, str) or not ANSWER_ID.match(answer_id):
        raise InputError("id must be an answer's id: 32 lower-case hex characters")
    rating = payload.get("rating")
    if rating not in RATINGS:
        raise InputError('rating must be "up" or "down"')
    comment = payload.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            raise InputError("comment must be a string")
        if len(comment) > MAX_COMMENT_CHARS:
            raise QuestionTooLong(f"the comment is {len(comment):,} characters long; "
                                  f"the limit is {MAX_COMMENT_CHARS}")
        if first_non_text(comment) is not None:
            raise InputError("the comment contains binary data, not text")
        comment = comment.strip() or None
    return Feedback(answer_id, rating, comment)


class NullLog:
    """`ASSISTANT_LOG=off` (or a log that could not be opened: `error` says why): nothing is
    stored."""

    enabled = False

    def __init__(self, error: str | None = None) -> None:
        self.error = error

    def record(self, record: dict) -> None:
        pass

    def feedback(self, feedback: Feedback) -> None:
        raise NotFound("this server keeps no question log (ASSISTANT_LOG=off): no feedback is taken")

    def flush(self, timeout: float = 10.0) -> bool:
        return True

    def close(self) -> None:
        pass

    def stats(self) -> dict[str, Any]:
        return {"enabled": False, **({"error": self.error} if self.error else {})}


class QuestionLog:
    """The log over one database, with its background writer thread (started here)."""

    enabled = True

    def __init__(self, settings: Settings, engine: Engine | None = None, *,
                 clock: Callable[[], datetime] = utcnow,
                 purge_every_seconds: float = PURGE_EVERY_SECONDS,
                 batch_size: int = BATCH_SIZE) -> None:
        self.engine = engine or create_log_engine(database_url(settings))
        self.retention = timedelta(days=settings.log_retention_days)
        self.clock = clock
        self.purge_every_seconds = purge_every_seconds
        self.batch_size = batch_size
        self._queue: queue.Queue[dict] = queue.Queue(maxsize=settings.log_queue_size)
        self._lock = threading.Lock()
        self._written = threading.Condition(self._lock)
        self._pending: set[str] = set()
        self.counts = {"written": 0, "dropped": 0, "failed": 0, "purged": 0}
        self._stop = threading.Event()
        migrate(self.engine)
        self.purge()  # at start, then daily (the writer)
        self._last_purge = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="question-log", daemon=True)
        self._thread.start()

    # --- writing ---------------------------------------------------------------------

    def record(self, record: dict) -> None:
        """Queue one answer's record; never blocks, never raises."""
        if self._stop.is_set():
            return
        try:
            record.setdefault("created_at", self.clock())
            with self._lock:
                self._pending.add(record["id"])
            self._queue.put_nowait(record)
        except queue.Full:
            with self._lock:
                self._pending.discard(record["id"])
                self.counts["dropped"] += 1
        except Exception:  # a log must never fail an answer
            log.exception("question log: a record could not be queued")
            with self._lock:
                self.counts["dropped"] += 1

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                first = self._queue.get(timeout=0.25)
            except queue.Empty:
                self._maybe_purge()
                continue
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)
            self._maybe_purge()

    def _write(self, batch: list[dict]) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(ANSWERS), batch)
            outcome = "written"
        except Exception as error:  # the database is down or refused: count, never raise
            log.warning("question log: %d records not written: %s", len(batch), error)
            outcome = "failed"
        with self._written:
            self.counts[outcome] += len(batch)
            for record in batch:
                self._pending.discard(record["id"])
            self._written.notify_all()

    def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge >= self.purge_every_seconds:
            self._last_purge = time.monotonic()
            try:
                self.purge()
            except Exception as error:
                log.warning("question log: retention purge failed: %s", error)

    def purge(self) -> int:
        """Delete records (and their feedback) older than the retention period."""
        cutoff = self.clock() - self.retention
        old = sa.select(ANSWERS.c.id).where(ANSWERS.c.created_at < cutoff)
        with self.engine.begin() as connection:
            connection.execute(sa.delete(FEEDBACK).where(FEEDBACK.c.answer_id.in_(old)))
            deleted = connection.execute(sa.delete(ANSWERS).where(ANSWERS.c.created_at < cutoff)).rowcount
        with self._lock:
            self.counts["purged"] += deleted or 0
        return deleted or 0

    def flush(self, timeout: float = 10.0, answer_id: str | None = None) -> bool:
        """Wait until every record queued so far (or only `answer_id`'s) is written or has
        failed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._written:
            while (answer_id in self._pending) if answer_id else self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._written.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, stop the writer, release the connections."""
        self._stop.set()
        self._thread.join(timeout)
        self.engine.dispose()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"enabled": True, "queued": self._queue.qsize(), **self.counts}

    # --- feedback --------------------------------------------------------------------

    def feedback(self, feedback: Feedback) -> None:
        """Store one vote; `NotFound` for an unknown answer, `AlreadyVoted` for a second vote."""
        with self._lock:
            pending = feedback.answer_id in self._pending
        if pending:  # the answer is still on its way to the database: write it first
            self.flush(timeout=5.0, answer_id=feedback.answer_id)
        with self.engine.begin() as connection:
            exists = connection.execute(sa.select(ANSWERS.c.id).where(
                ANSWERS.c.id == feedback.answer_id)).first()
            if exists is None:
                raise NotFound("no answer with that id (it may be older than the log keeps)")
            try:
                with connection.begin_nested():
                    connection.execute(sa.insert(FEEDBACK).values(
                        answer_id=feedback.answer_id, rating=feedback.rating,
                        comment=feedback.comment, created_at=self.clock()))
            except sa.exc.IntegrityError:
                raise AlreadyVoted("this answer already has its vote") from None

    # --- reading (for the report) ----------------------------------------------------

    def answers_since(self, since: datetime | None) -> list[dict]:
        query = sa.select(ANSWERS).order_by(ANSWERS.c.created_at)
        if since is not None:
            query = query.where(ANSWERS.c.created_at >= since)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def feedback_since(self, since: datetime | None) -> list[dict]:
        query = sa.select(FEEDBACK, ANSWERS.c.question, ANSWERS.c.top_guide, ANSWERS.c.top_section,
                          ANSWERS.c.kind).join(ANSWERS, ANSWERS.c.id == FEEDBACK.c.answer_id)
        if since is not None:
            query = query.where(ANSWERS.c.created_at >= since)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]


def open_question_log(settings: Settings) -> QuestionLog | NullLog:
    """The log the settings ask for: `NullLog` when `ASSISTANT_LOG=off`, and when the
    database cannot be reached or migrated (logged as a warning): answering never depends
    on the log."""
    if not settings.log:
        return NullLog()
    try:
        return QuestionLog(settings)
    except Exception as error:
        log.warning("question log unavailable, answering without it: %s", error)
        return NullLog(error=f"the log database could not be opened: {type(error).__name__}")
