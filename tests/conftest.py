"""Shared fixtures: a deterministic fake embedder for unit tests, real indexes for integration.

Unit tests use `FakeEmbedding` (hashed bag of words: same text, same vector, no model) over
a real embedded Chroma in a temp folder. Integration tests use the packaged
sentence-transformers model, loaded once per session.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
FIXTURE_GUIDES = DATA / "guides"
SHIPPED_CORPUS = ROOT / "corpus"
ASSISTANT_BIN = Path(sys.executable).parent / "assistant"


class FakeEmbedding(BaseEmbedding):
    """Hashed bag-of-words vectors: deterministic, instant, good enough to rank by overlap."""

    dimensions: int = 96

    @classmethod
    def class_name(cls) -> str:
        return "FakeEmbedding"

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in text.lower().split():
            bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimensions
            vector[bucket] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector] if any(vector) else [1.0] + [0.0] * (self.dimensions - 1)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)


@pytest.fixture(scope="session")
def fake_embedder() -> FakeEmbedding:
    return FakeEmbedding()


@pytest.fixture(scope="session")
def real_embedder():
    from assistant.embeddings import default_embedder

    embedder = default_embedder(Settings())
    embedder.load()
    return embedder


def build(tmp: Path, corpus: Path, embedder) -> Settings:
    from assistant.index import ingest

    settings = Settings(corpus=corpus, index=tmp / "index")
    ingest(settings, embedder)
    return settings


@pytest.fixture(scope="session")
def fake_assistant(tmp_path_factory, fake_embedder):
    """The multi-guide fixture corpus, indexed with the fake embedder."""
    from assistant.chat import Assistant
    from assistant.evidence import Calibration

    settings = build(tmp_path_factory.mktemp("fake"), FIXTURE_GUIDES, fake_embedder)
    # Fixed weights for word-overlap vectors: the fitted calibration.json belongs to the real
    # model's scores and changes with every refit; these tests are about everything else.
    calibration = Calibration(
        rank={"dense": 1.0, "keyword": 0.5, "coverage": 1.0, "level": 1.0, "heading": 1.0,
              "section": 1.0, "count": 0.5},
        support={"dense": 0.5, "coverage": 0.5, "level": 0.5}, threshold=0.15)
    return Assistant(settings, embedder=fake_embedder, calibration=calibration)


@pytest.fixture(scope="session")
def guides_index(tmp_path_factory, real_embedder) -> Path:
    """The multi-guide fixture corpus, indexed once per session with the real model."""
    return build(tmp_path_factory.mktemp("guides"), FIXTURE_GUIDES, real_embedder).index


@pytest.fixture(scope="session")
def real_assistant(guides_index, real_embedder):
    """An assistant over `guides_index`, sharing the session's loaded model."""
    from assistant.chat import Assistant

    return Assistant(Settings(corpus=FIXTURE_GUIDES, index=guides_index), embedder=real_embedder)


@pytest.fixture(scope="session")
def shipped_index(tmp_path_factory, real_embedder) -> Settings:
    """The shipped corpus/, indexed with the real model, for CLI tests."""
    return build(tmp_path_factory.mktemp("shipped"), SHIPPED_CORPUS, real_embedder)


def snapshot(settings: Settings) -> dict:
    """Everything a reader can see in the index: chunk and guide ids with their metadata."""
    import chromadb

    client = chromadb.PersistentClient(path=str(settings.index))
    chunks = client.get_collection("assistant_chunks").get(include=["metadatas"])
    guides = client.get_collection("assistant_guides").get(include=["metadatas"])
    return {
        "chunks": sorted((cid, sorted(meta.items()))
                         for cid, meta in zip(chunks["ids"], chunks["metadatas"], strict=True)),
        "guides": sorted((gid, sorted(meta.items()))
                         for gid, meta in zip(guides["ids"], guides["metadatas"], strict=True)),
    }


def copy_corpus(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def run_cli(*args: str, env: dict | None = None, input: str | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(ASSISTANT_BIN), *args], capture_output=True, text=True,
                          env=full_env, input=input, timeout=timeout, cwd=ROOT)


# --- the question log's databases (issue 12) -------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else (PG_BIN if (PG_BIN / "initdb").exists() else None)


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> str:
    """A real PostgreSQL server (Debian's package; `make test` installs it), started once per
    session in a temp folder on a free loopback port; yields its admin URL. PostgreSQL
    refuses to run as root, so as root it runs as the `postgres` user."""
    import pwd
    import time

    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql)")
    root_dir = tmp_path_factory.mktemp("postgres")
    data = root_dir / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
        for folder in (root_dir, *root_dir.parents):  # the server must reach its folder
            if str(folder) in ("/", "/tmp"):
                break
            folder.chmod(folder.stat().st_mode | 0o711)
        os.chown(root_dir, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_loopback_port()
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=120)
    done = run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
    if done.returncode != 0:
        pytest.fail(f"initdb failed: {done.stderr}")
    logfile = root_dir / "server.log"
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root_dir} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    done = run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-o", options,
                "-w", "-t", "60", "start"])
    if done.returncode != 0:
        pytest.fail(f"pg_ctl start failed: {done.stderr}\n{logfile.read_text() if logfile.exists() else ''}")
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        yield url
    finally:
        run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        time.sleep(0)


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request, tmp_path) -> str:
    """An empty question-log database: a SQLite file, or a fresh database on the session's
    PostgreSQL server. Every test that takes it runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'questions.db'}"
    import uuid

    import sqlalchemy as sa

    admin = request.getfixturevalue("postgres_server")
    name = f"log_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin.replace("postgresql://", "postgresql+psycopg://"),
                              isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.rsplit("/", 1)[0] + f"/{name}"
