"""Chroma server mode (`ASSISTANT_CHROMA_URL`): ingest and answer against a real server.

Each test starts its own `chroma run` subprocess on a free loopback port with a temporary
data folder, so nothing is shared with a developer's server and nothing is skipped in CI.
Covered: ingest and answer through the CLI, no-op re-ingest, nothing written locally, the
"no index yet" exit code on an empty server, the one-line error (exit 1, naming the URL, no
traceback) when the server is down, and recovery once it is back on the same port and data
folder, for the CLI and for a long-lived in-process `Assistant` (an app replica, which keeps
answering guides it has already read and fails clearly on the others while the server is away).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assistant.settings import Settings
from conftest import FIXTURE_GUIDES, run_cli

pytestmark = pytest.mark.integration

LEUVEN_SENIOR = "€61,800 – €87,550"
QUESTION = "What does a senior backend developer earn in Leuven?"
BRUSSELS_SENIOR = "€69,800 – €95,600"
OTHER_QUESTION = "What does a senior data scientist earn in Brussels?"


def chroma_bin() -> str:
    local = Path(sys.executable).parent / "chroma"
    found = str(local) if local.exists() else shutil.which("chroma")
    # Fail, not skip: the `chroma` CLI ships with chromadb, so a missing one is a broken install.
    assert found, "the `chroma` CLI (installed with chromadb) is missing"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChromaServer:
    """One `chroma run` subprocess; `stop()` and `start()` keep its port and data folder."""

    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.log = path.parent / f"chroma-{port}.log"

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [chroma_bin(), "run", "--path", str(self.path), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"chroma run exited: {self.log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"chroma run did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # a crash, not a clean shutdown
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture
def server(tmp_path):
    chroma = ChromaServer(tmp_path / "chroma-data", free_port())
    chroma.start()
    yield chroma
    chroma.stop()


def env_for(server: ChromaServer, tmp_path: Path) -> dict[str, str]:
    # ASSISTANT_INDEX points at a folder that must stay absent: server mode writes nothing locally.
    return {"ASSISTANT_CHROMA_URL": server.url, "ASSISTANT_INDEX": str(tmp_path / "no-local-index"),
            "ASSISTANT_CORPUS": str(FIXTURE_GUIDES)}


def assert_one_line_error(result: subprocess.CompletedProcess, url: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and url in lines[0], lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_ingest_and_answer_on_a_server_then_down_then_back(server, tmp_path):
    env = env_for(server, tmp_path)
    ingest = run_cli("ingest", env=env)
    assert ingest.returncode == 0, ingest.stderr
    assert "6 guides" in ingest.stdout and " 0 unchanged" in ingest.stdout, ingest.stdout

    again = run_cli("ingest", env=env)
    assert again.returncode == 0, again.stderr
    assert "0 added, 0 updated, 0 deleted" in again.stdout, again.stdout

    answer = run_cli("ask", QUESTION, "--json", env=env)
    assert answer.returncode == 0, answer.stderr
    assert LEUVEN_SENIOR in answer.stdout
    assert not (tmp_path / "no-local-index").exists()

    server.stop()
    for args in (("ask", QUESTION), ("ask", QUESTION, "--json"), ("ingest",)):
        assert_one_line_error(run_cli(*args, env=env), server.url)

    server.start()  # same port, same data folder
    back = run_cli("ask", QUESTION, "--json", env=env)
    assert back.returncode == 0, back.stderr
    assert LEUVEN_SENIOR in back.stdout
    assert "0 added, 0 updated, 0 deleted" in run_cli("ingest", env=env).stdout


def test_empty_server_says_no_index_yet(server, tmp_path):
    result = run_cli("ask", QUESTION, env=env_for(server, tmp_path))
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "assistant ingest" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_url_is_one_clear_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli("ask", QUESTION, env={"ASSISTANT_CHROMA_URL": url,
                                           "ASSISTANT_INDEX": str(tmp_path / "none")})
    assert_one_line_error(result, url)


def test_a_running_replica_recovers_when_the_server_returns(server, tmp_path, real_embedder):
    from assistant.chat import Assistant
    from assistant.errors import IndexUnavailableError
    from assistant.index import ingest

    settings = Settings(corpus=FIXTURE_GUIDES, index=tmp_path / "no-local-index",
                        chroma_url=server.url)
    report = ingest(settings, real_embedder)
    assert report.added > 0 and not report.errors
    replica = Assistant(settings, embedder=real_embedder)
    assert LEUVEN_SENIOR in replica.ask(QUESTION).answer

    server.stop()
    # A guide this replica has served is answered from its in-memory snapshot (retrieve.py);
    # one it has not read yet needs the server, and says so.
    assert LEUVEN_SENIOR in replica.ask(QUESTION).answer
    with pytest.raises(IndexUnavailableError) as error:
        replica.ask(OTHER_QUESTION)
    assert server.url in str(error.value)

    server.start()
    assert BRUSSELS_SENIOR in replica.ask(OTHER_QUESTION).answer
    assert LEUVEN_SENIOR in replica.ask(QUESTION).answer
    assert not (tmp_path / "no-local-index").exists()
