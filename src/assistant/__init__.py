"""The hiring assistant: answers recruiters' questions from the recruiting guides.

corpus -> chunks -> index -> retrieve -> answer -> chat -> cli. This file only re-exports
the names callers need; importing it stays light (no torch, no chromadb).
"""

from .errors import (
    AssistantError,
    CorpusError,
    IndexUnavailableError,
    IngestLockedError,
    InputError,
    NoIndexError,
    QuestionTooLong,
)
from .settings import Settings

__all__ = [
    "AssistantError", "CorpusError", "IndexUnavailableError", "IngestLockedError", "InputError",
    "NoIndexError", "QuestionTooLong", "Settings",
]
