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


class ModelUnavailable(AssistantError):
    """The embedding model could not be loaded, or its process ended."""

    exit_code = 1
    http_status = 503


class HistoryTooLong(InputError):
    """The conversation sent with a question is over a turn, turn-length or total cap."""

    http_status = 413


# The HTTP request path's own refusals: raised by the API's guards and readers, mapped to a
# status like every other kind (and, from `assistant ask --batch`, to exit code 2).


class MalformedRequest(InputError):
    """The body is not JSON the API reads (bad syntax, too deep, a number too long)."""

    http_status = 400


class BodyTooLarge(InputError):
    http_status = 413


class UnsupportedMediaType(InputError):
    http_status = 415


class OriginRefused(AssistantError):
    http_status = 403


class NotFound(AssistantError):
    http_status = 404


class MethodNotAllowed(AssistantError):
    http_status = 405

    def __init__(self, message: str, allow: list[str]) -> None:
        super().__init__(message)
        self.allow = allow


class TooManyRequests(AssistantError):
    http_status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, round(retry_after))


class OverBudget(AssistantError):
    """An answer did not finish within the per-request time budget (or could not start in
    it, behind the same client's earlier requests). Retrying later is fine: 503 + Retry-After."""

    exit_code = 1
    http_status = 503
    retry_after = 1


class AlreadyVoted(AssistantError):
    """Feedback for an answer that already has its vote (one vote per answer)."""

    exit_code = 2
    http_status = 409


class Unauthorized(AssistantError):
    """An admin route without the right token."""

    http_status = 401
