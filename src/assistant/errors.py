"""The assistant's exceptions: one base class, a few kinds, messages written for users.

The CLI maps each kind to an exit code (`exit_code`), the HTTP API to a status
(`http_status`). Nothing here formats output or logs.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class; `str(error)` is a one-line message fit to show a user."""

    exit_code = 1
    http_status = 500


class InputError(AssistantError):
    """The question or a request is malformed (empty, binary, bad JSON lines)."""

    exit_code = 2
    http_status = 422


class QuestionTooLong(InputError):
    http_status = 413


class CorpusError(AssistantError):
    """A guide file cannot be read or parsed; names the file (`key`: its corpus-relative path)."""

    exit_code = 2
    http_status = 500

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class NoIndexError(AssistantError):
    """There is no index yet at the configured place."""

    exit_code = 3
    http_status = 503


class IngestLockedError(AssistantError):
    """Another ingest holds the lock."""

    exit_code = 1
    http_status = 409


class IndexUnavailableError(AssistantError):
    """The Chroma server cannot be reached."""

    exit_code = 1
    http_status = 503


class HistoryTooLong(InputError):
    """The conversation sent with a question is over a turn, turn-length or total cap."""

    http_status = 413

