"""The `assistant` command over the shipped corpus: the done-when question, refusals, exit
codes, bad input, --batch and chat, all as real subprocesses."""

from __future__ import annotations

import json

import pytest

from conftest import SHIPPED_CORPUS, copy_corpus, run_cli

pytestmark = pytest.mark.integration


def env_for(settings) -> dict:
    return {"ASSISTANT_INDEX": str(settings.index), "ASSISTANT_CORPUS": str(settings.corpus)}


def test_senior_salary_in_leuven(shipped_index):
    result = run_cli("ask", "--json", "What does a senior backend developer earn in Leuven?",
                     env=env_for(shipped_index))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert "€61,800 – €87,550" in answer["answer"] and answer["abstained"] is False
    assert answer["sources"][0]["section"] == "Salary Ranges"
    assert answer["sources"][0]["file"] == "corpus/backend-developers-in-leuven.txt"
    assert set(answer) >= {"answer", "abstained", "sources", "facts", "latency_ms"}


def test_unrelated_question_abstains(shipped_index, tmp_path):
    log_url = f"sqlite:///{tmp_path / 'questions.db'}"
    result = run_cli("ask", "--json", "What is the best pizza in Naples?",
                     env={**env_for(shipped_index), "ASSISTANT_LOG_URL": log_url})
    answer = json.loads(result.stdout)
    assert result.returncode == 0 and answer["abstained"] is True
    assert "Backend Developers (Leuven)" in answer["answer"]
    # issue 12: the answer's id and reason, and its record written before the command exits
    # Naples is a place the router knows and no guide covers: a "no guide" refusal
    assert len(answer["id"]) == 32 and answer["reason"] == "no_guide"
    from assistant.questionlog import QuestionLog
    from assistant.settings import Settings

    question_log = QuestionLog(Settings(log_url=log_url))
    [row] = question_log.answers_since(None)
    question_log.close()
    assert (row["id"], row["interface"], row["reason"]) == (answer["id"], "cli", "no_guide")
    assert row["question"] == "What is the best pizza in Naples?" and row["conversation"] is None


def test_text_output_names_the_source(shipped_index):
    result = run_cli("ask", "Which companies hire backend developers in Leuven?", env=env_for(shipped_index))
    assert "imec" in result.stdout and "Key Companies" in result.stdout


@pytest.mark.parametrize("question, message", [
    ("", "the question is empty"),
    ("   \n\t ", "the question is empty"),
    ("salary " * 15000, "the limit is 2,000"),
    ("\x01\x02\x03\x04\x05\x06\x07\x08 junk", "binary data"),
])
def test_bad_questions_exit_2_with_one_line(shipped_index, question, message):
    result = run_cli("ask", question, env=env_for(shipped_index))
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_no_index_yet_exits_3(tmp_path):
    result = run_cli("ask", "What does a senior earn in Leuven?",
                     env={"ASSISTANT_INDEX": str(tmp_path / "none")})
    assert result.returncode == 3 and "assistant ingest" in result.stderr
    assert "Traceback" not in result.stderr


def test_question_and_batch_together_is_bad_usage(shipped_index):
    result = run_cli("ask", "hello", "--batch", "-", env=env_for(shipped_index), input="")
    assert result.returncode == 2 and "not both" in result.stderr


def test_batch_answers_each_line_in_order(shipped_index):
    lines = [
        {"question": "What does a junior backend developer earn in Leuven?"},
        {"question": "And seniors?", "history": [
            {"role": "user", "content": "What does a junior backend developer earn in Leuven?"},
            {"role": "assistant", "content": "Junior backend developers in Leuven earn €37,080 – €49,440."}]},
        {"question": "What does a backend developer earn in Paris?"},
    ]
    result = run_cli("ask", "--batch", "-", env=env_for(shipped_index),
                     input="\n".join(json.dumps(line) for line in lines) + "\n")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 3
    assert "€37,080 – €49,440" in answers[0]["answer"]
    assert "€61,800 – €87,550" in answers[1]["answer"]
    assert answers[2]["abstained"] is True


@pytest.mark.parametrize("payload, message", [
    ('{"question": "ok"}\nnot json\n', "batch line 2: not valid JSON"),
    ('{"question": 42}\n', "batch line 1"),
    ('{"question": "fine"}\n{"question": ""}\n', "batch line 2: the question is empty"),
    ('{"question": "x", "history": "nope"}\n', "batch line 1: history must be a list"),
])
def test_bad_batch_writes_nothing(shipped_index, payload, message):
    result = run_cli("ask", "--batch", "-", env=env_for(shipped_index), input=payload)
    assert result.returncode == 2 and message in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_a_bad_setting_is_one_line_naming_it(shipped_index):
    result = run_cli("ask", "x", env={**env_for(shipped_index), "ASSISTANT_SITE_BASE_URL": "www.example"})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "ASSISTANT_SITE_BASE_URL" in result.stderr and "http(s) URL" in result.stderr


def test_chat_keeps_the_conversation(shipped_index):
    result = run_cli("chat", env=env_for(shipped_index),
                     input="What does a junior backend developer earn in Leuven?\nand seniors?\nquit\n")
    assert result.returncode == 0, result.stderr
    assert "€37,080 – €49,440" in result.stdout and "€61,800 – €87,550" in result.stdout
    # a line while the model loads, and its load time, before the first answer
    assert result.stderr.startswith("loading the guides and the model…\nready in ")
    assert "(model " in result.stderr


def test_chat_in_a_terminal_edits_lines_and_recalls_history(shipped_index):
    """In a terminal the Up arrow brings back the last question (readline), instead of
    sending the escape sequence `^[[A` as a question (issue 10)."""
    import os
    import pty
    import select
    import subprocess
    import time

    from conftest import ASSISTANT_BIN, ROOT

    leader, follower = pty.openpty()
    process = subprocess.Popen([str(ASSISTANT_BIN), "chat"], stdin=follower, stdout=follower,
                               stderr=follower, cwd=ROOT, env={**os.environ, **env_for(shipped_index)},
                               close_fds=True)
    os.close(follower)
    seen = b""

    def read_until(marker: bytes, count: int, timeout: float = 180) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while seen.count(marker) < count:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            if select.select([leader], [], [], 1)[0]:
                try:
                    seen += os.read(leader, 4096)
                except OSError:  # the child closed the terminal
                    break

    try:
        read_until(b"you> ", 1)
        os.write(leader, b"What does a junior backend developer earn in Leuven?\r")
        read_until(b"you> ", 2)
        os.write(leader, b"\x1b[A\r")  # Up arrow, Enter: the same question again
        read_until(b"you> ", 3)
        os.write(leader, b"\x04")  # Ctrl-D leaves
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    text = seen.decode(errors="replace")
    assert text.count("€37,080 – €49,440 gross per year") == 2, text
    assert "^[[A" not in text and process.returncode == 0


EMPTY_GUIDE_EN = "The Recruiting Data Engineers in Ghent guide has no content yet."
EMPTY_GUIDE_NL = "De gids Recruiting Data Engineers in Ghent heeft nog geen inhoud."


@pytest.mark.parametrize("question, said", [
    ("What do data engineers earn in Ghent?", EMPTY_GUIDE_EN),
    ("Tell me about data engineers in Ghent", EMPTY_GUIDE_EN),
    ("Wat verdient een data engineer in Gent?", EMPTY_GUIDE_NL),
])
def test_a_guide_with_only_a_title_is_answered_not_crashed(tmp_path, question, said):
    corpus = copy_corpus(SHIPPED_CORPUS, tmp_path / "corpus")
    (corpus / "data-engineers-in-ghent.txt").write_text("Recruiting Data Engineers in Ghent\n")
    env = {"ASSISTANT_INDEX": str(tmp_path / "index"), "ASSISTANT_CORPUS": str(corpus)}
    assert run_cli("ingest", env=env).returncode == 0
    result = run_cli("ask", "--json", question, env=env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["abstained"] is True and answer["answer"] == said
