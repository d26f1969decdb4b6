"""The request model's limits (issue 11): what a question and its history may hold.

`validate_request` is what every interface checks input with (HTTP API, chat page, CLI,
batch); the HTTP statuses for the same cases are in test_api_hardening.py.
"""

from __future__ import annotations

import json

import pytest

from assistant import understand as understand_module
from assistant.chat import CONTEXT_USER_TURNS
from assistant.errors import HistoryTooLong, InputError, QuestionTooLong
from assistant.request import trim_history, validate_request
from assistant.settings import Settings
from conftest import run_cli

SETTINGS = Settings()
NOT_TEXT = [
    pytest.param("Leuven \ud800", id="lone-surrogate"),
    pytest.param("Leuven \udfff salary", id="low-surrogate"),
    pytest.param("Leuven \ue000", id="private-use"),
    pytest.param("Leuven \U000f0000", id="private-use-plane-15"),
    pytest.param("Leuven \u0378", id="unassigned"),
    pytest.param("Leuven \x07 salary", id="control"),
    pytest.param("Leuven \x00", id="nul"),
    pytest.param("Leuven \x7f", id="delete"),
]


@pytest.mark.parametrize("question", NOT_TEXT)
def test_question_that_is_not_text_is_refused(question: str) -> None:
    with pytest.raises(InputError, match="binary data, not text") as caught:
        validate_request({"question": question}, SETTINGS)
    assert type(caught.value) is InputError and caught.value.http_status == 422


@pytest.mark.parametrize("content", NOT_TEXT)
def test_history_turn_that_is_not_text_is_refused(content: str) -> None:
    history = [{"role": "user", "content": "salary in Leuven?"}, {"role": "assistant", "content": content}]
    with pytest.raises(InputError, match="history turn 2 contains binary data"):
        validate_request({"question": "and seniors?", "history": history}, SETTINGS)


def test_line_breaks_and_tabs_are_text() -> None:
    question, history = validate_request(
        {"question": "salary\tin\r\nLeuven?", "history": [{"role": "user", "content": "a\nb\tc"}]}, SETTINGS)
    assert question == "salary\tin\r\nLeuven?" and history[0]["content"] == "a\nb\tc"


def test_length_limit_counts_the_raw_text() -> None:
    # 1,990 characters and 11 spaces: 2,001 as sent, even though 1,990 once stripped.
    with pytest.raises(QuestionTooLong, match="2,001 characters"):
        validate_request({"question": "a" * 1990 + " " * 11}, SETTINGS)
    assert validate_request({"question": " " + "a" * 1998 + " "}, SETTINGS)[0] == "a" * 1998


def _turns(count: int, content: str = "What does a junior backend developer earn in Leuven?") -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": content} for i in range(count)]


@pytest.mark.parametrize(("history", "message"), [
    pytest.param(_turns(SETTINGS.max_history_turns + 1), "the history has 21 turns; the limit is 20",
                 id="too-many-turns"),
    pytest.param([{"role": "assistant", "content": "x" * (SETTINGS.max_turn_chars + 1)}],
                 "history turn 1 is 8,001 characters long; the limit is 8,000", id="answer-turn-too-long"),
    pytest.param([{"role": "user", "content": "x" * (SETTINGS.max_question_chars + 1)}],
                 "history turn 1 is 2,001 characters long; the limit for a question is 2,000",
                 id="user-turn-longer-than-a-question"),
    pytest.param(_turns(10, "x" * 2000) + [{"role": "assistant", "content": "x" * 8000}] * 2,
                 "the history is 36,000 characters long in all; the limit is 32,000", id="too-long-in-all"),
])
def test_history_over_a_cap_is_refused_with_413(history: list[dict], message: str) -> None:
    with pytest.raises(HistoryTooLong) as caught:
        validate_request({"question": "and seniors?", "history": history}, SETTINGS)
    assert str(caught.value) == message and caught.value.http_status == 413


def test_history_caps_come_from_settings() -> None:
    small = Settings(max_history_turns=2, max_turn_chars=10, max_history_chars=15)
    assert validate_request({"question": "q", "history": _turns(2, "0123456")}, small)[1]
    with pytest.raises(HistoryTooLong, match="limit is 15"):
        validate_request({"question": "q", "history": _turns(2, "012345678")}, small)


def test_trim_history_keeps_the_latest_turns_that_fit() -> None:
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(30)]
    kept = trim_history(turns, SETTINGS)
    assert kept == turns[-SETTINGS.max_history_turns:]
    validate_request({"question": "q", "history": kept}, SETTINGS)  # what is kept is accepted
    long = [{"role": "assistant", "content": "x" * 8000}] * 5
    assert sum(len(t["content"]) for t in trim_history(long, SETTINGS)) <= SETTINGS.max_history_chars


def test_understanding_reads_only_the_last_few_user_turns(real_assistant, monkeypatch) -> None:
    parsed: list[str] = []
    parse = understand_module.parse

    def counting(text, vocabulary):
        parsed.append(text)
        return parse(text, vocabulary)

    monkeypatch.setattr(understand_module, "parse", counting)
    history = [{"role": "user", "content": f"What do junior backend developers earn in Leuven? ({n})"}
               for n in range(SETTINGS.max_history_turns)]
    real_assistant.understand("and seniors?", history)
    assert len(parsed) == CONTEXT_USER_TURNS + 1  # the last few turns, and the question
    assert parsed[0].endswith(f"({SETTINGS.max_history_turns - CONTEXT_USER_TURNS})")


def test_batch_with_text_that_is_not_text_exits_2(guides_index) -> None:
    env = {"ASSISTANT_INDEX": str(guides_index), "ASSISTANT_CORPUS": "tests/data/guides"}
    lines = [json.dumps({"question": "What does a junior earn in Leuven?"}),
             json.dumps({"question": "Leuven \ud800"})]  # json.dumps writes it as \ud800
    result = run_cli("ask", "--batch", "-", env=env, input="\n".join(lines) + "\n")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("error: batch line 2: the question contains binary data, not text "
                                     "(U+D800 at character 8)")
    assert result.stdout == ""


def test_batch_with_json_nested_too_deep_exits_2(guides_index) -> None:
    env = {"ASSISTANT_INDEX": str(guides_index)}
    result = run_cli("ask", "--batch", "-", env=env, input="[" * 10_000 + "]" * 10_000 + "\n")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: batch line 1: not valid JSON")
    assert "Traceback" not in result.stderr
