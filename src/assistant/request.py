"""The one request model: a question and its conversation, with every limit on them.

`ask_request_model(settings)` is the pydantic model the API serves in its OpenAPI schema
and the one `validate_request` checks input against, for every interface (HTTP, chat page,
CLI, batch). Its validation errors become the project's own errors with a message written
for users (`InputError` 422, `QuestionTooLong`/`HistoryTooLong` 413). `trim_history` is for
callers that keep a conversation themselves (the chat page): it keeps the most recent turns
that fit the caps, so a long conversation goes on instead of being refused.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import AssistantError, HistoryTooLong, InputError, QuestionTooLong
from .settings import Settings

# Not text: lone surrogates (they crash the tokenizer and cannot be encoded), unassigned
# code points, private-use characters and control characters other than line breaks and tabs.
NOT_TEXT = frozenset({"Cs", "Cn", "Co", "Cc"})
ALLOWED_CONTROLS = frozenset("\n\t\r")
OBJECT_SHAPE = 'expected a JSON object {"question": str, "history": [{"role", "content"}, ...]}'
TURN_SHAPE = 'each history turn must be {"role": "user"|"assistant", "content": str}'


def first_non_text(text: str) -> int | None:
    """The index of the first character that is not text, or None."""
    for position, char in enumerate(text):
        if unicodedata.category(char) in NOT_TEXT and char not in ALLOWED_CONTROLS:
            return position
    return None


def not_text_message(text: Any) -> str:
    position = first_non_text(text) if isinstance(text, str) else None
    where = f" (U+{ord(text[position]):04X} at character {position + 1})" if position is not None else ""
    return f"contains binary data, not text{where}"


def _only_text(text: str) -> str:
    if first_non_text(text) is not None:
        raise PydanticCustomError("not_text", not_text_message(text))
    return text


def _not_blank(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("blank", "is empty")
    return text


@dataclass(frozen=True)
class Limits:
    question_chars: int
    turn_chars: int
    history_turns: int
    history_chars: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_question_chars, settings.max_turn_chars, settings.max_history_turns,
                   settings.max_history_chars)


@lru_cache(maxsize=8)
def _model_for(limits: Limits) -> type[BaseModel]:
    # Built per set of limits so the served schema states the limits in force; cached so a
    # settings object maps to one model class.
    class Turn(BaseModel):
        model_config = ConfigDict(title="Turn")

        role: Literal["user", "assistant"]
        content: Annotated[str, Field(max_length=limits.turn_chars, description=(
            f"at most {limits.turn_chars:,} characters; a user turn, like a question, at most "
            f"{limits.question_chars:,}")), AfterValidator(_only_text)]

        @model_validator(mode="after")
        def _user_turn_is_a_question(self) -> Turn:
            if self.role == "user" and len(self.content) > limits.question_chars:
                raise PydanticCustomError("user_turn_too_long", "is {length} characters long; the limit "
                                          "for a question is {limit}",
                                          {"length": f"{len(self.content):,}",
                                           "limit": f"{limits.question_chars:,}"})
            return self

    class AskRequest(BaseModel):
        model_config = ConfigDict(title="AskRequest")

        question: Annotated[str, Field(min_length=1, max_length=limits.question_chars, description=(
            f"the recruiter's question, 1 to {limits.question_chars:,} characters of text")),
            AfterValidator(_only_text), AfterValidator(_not_blank)]
        history: list[Turn] = Field(default_factory=list, max_length=limits.history_turns, description=(
            f"the conversation so far, oldest first: at most {limits.history_turns} turns and "
            f"{limits.history_chars:,} characters in all"))

        # Issue 12: the page's random conversation id, and which client sent the question; both
        # optional, kept in the question log (never anything from the request's headers).
        conversation: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$", description=(
            "a random id the page makes for this conversation (8-64 of A-Z a-z 0-9 _ -), "
            "stored with the question; optional"))
        client: Literal["api", "widget"] = Field(default="api", description=(
            "who asks: the embeddable widget says \"widget\"; anything else is \"api\""))

        @field_validator("history", mode="before")
        @classmethod
        def _none_is_no_history(cls, value: Any) -> Any:
            return [] if value is None else value

        @model_validator(mode="after")
        def _history_fits(self) -> AskRequest:
            total = sum(len(turn.content) for turn in self.history)
            if total > limits.history_chars:
                raise PydanticCustomError("history_too_long", "{total} characters in all", {"total": total})
            return self

    return AskRequest


def ask_request_model(settings: Settings) -> type[BaseModel]:
    return _model_for(Limits.of(settings))


@dataclass(frozen=True)
class Ask:
    question: str
    history: list[dict]
    conversation: str | None = None
    client: str = "api"


def validate_ask(payload: Any, settings: Settings) -> Ask:
    """The whole request: question (stripped), history, conversation id and client."""
    model = ask_request_model(settings)
    try:
        request = model.model_validate(payload)
    except ValidationError as error:
        raise _user_error(error.errors()[0], Limits.of(settings)) from None
    history = [{"role": turn.role, "content": turn.content} for turn in request.history]
    return Ask(request.question.strip(), history, request.conversation, request.client)


def validate_request(payload: Any, settings: Settings) -> tuple[str, list[dict]]:
    """The question (stripped) and the history turns of `payload`, or the error to show."""
    ask = validate_ask(payload, settings)
    return ask.question, ask.history


def _user_error(detail: Any, limits: Limits) -> AssistantError:
    """One pydantic error as the project's error, with a message a user can act on."""
    loc, kind, given = tuple(detail["loc"]), detail["type"], detail.get("input")
    if not loc:
        if kind == "history_too_long":
            return HistoryTooLong(f"the history is {detail['ctx']['total']:,} characters long in all; "
                                  f"the limit is {limits.history_chars:,}")
        return InputError(OBJECT_SHAPE)
    if loc[0] == "conversation":
        return InputError("conversation must be 8 to 64 characters of A-Z, a-z, 0-9, _ and -")
    if loc[0] == "client":
        return InputError('client must be "api" or "widget"')
    if loc[0] == "question":
        if kind == "missing":
            return InputError(OBJECT_SHAPE)
        if kind == "string_type":
            return InputError("the question must be a string")
        if kind in ("string_too_short", "blank"):
            return InputError("the question is empty")
        if kind == "string_too_long":
            return QuestionTooLong(f"the question is {len(given):,} characters long; the limit is "
                                   f"{limits.question_chars:,}")
        if kind in ("not_text", "string_unicode"):  # pydantic refuses lone surrogates itself
            return InputError(f"the question {not_text_message(given)}")
        return InputError(f"the question is not valid: {detail['msg']}")
    if len(loc) == 1:  # the history as a whole
        if kind == "too_long":
            return HistoryTooLong(f"the history has {len(given)} turns; the limit is {limits.history_turns}")
        return InputError("history must be a list of {role, content} turns")
    turn = f"history turn {loc[1] + 1}"
    if kind == "string_too_long":
        return HistoryTooLong(f"{turn} is {len(given):,} characters long; the limit is {limits.turn_chars:,}")
    if kind == "user_turn_too_long":
        return HistoryTooLong(f"{turn} {detail['msg']}")
    if kind in ("not_text", "string_unicode"):
        return InputError(f"{turn} {not_text_message(given)}")
    return InputError(f"{turn}: {TURN_SHAPE}")


def trim_history(turns: list[dict], settings: Settings) -> list[dict]:
    """The most recent turns that fit the history caps (whole turns, oldest dropped first);
    a turn that alone is over its cap is dropped too."""
    kept: list[dict] = []
    total = 0
    for turn in reversed(turns):
        content = turn.get("content")
        if not isinstance(content, str):
            continue
        cap = settings.max_question_chars if turn.get("role") == "user" else settings.max_turn_chars
        if len(content) > cap or first_non_text(content) is not None:
            continue
        if len(kept) == settings.max_history_turns or total + len(content) > settings.max_history_chars:
            break
        kept.append(turn)
        total += len(content)
    return kept[::-1]
