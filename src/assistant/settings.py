"""All configuration of the assistant, read once from `ASSISTANT_*` environment variables.

Build one `Settings` at the edge (CLI, server, tests) and pass it down; no module reads the
environment on its own. This file does not validate the corpus or the index: those fail
later with their own errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    corpus: Path = Path("corpus")
    index: Path = Path(".index")
    chroma_url: str | None = Field(
        default=None, description="http://host:port of a Chroma server; unset = embedded"
    )
    collection_prefix: str = "assistant"
    embed_model_path: Path | None = Field(
        default=None, description="a sentence-transformers model folder; unset = packaged"
    )
    embed_batch_size: int = 64
    # The shipped guide is 4 KB and no eval or test guide reaches 10 KB; a file far past
    # that is not a guide, and one of 20 MB took over 25 minutes and 1.2 GB to ingest.
    max_guide_bytes: int = Field(
        default=2_000_000, gt=0, description="a corpus file over this many bytes is skipped at ingest"
    )
    embed_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="auto = bfloat16 where the CPU computes it natively"
    )
    # The site whose pages the guides are: a guide without a front matter `url` links to
    # <site_base_url>/<file slug>. The shipped guide is the page
    # https://www.bedevs.be/hiring/backend-developers-in-leuven. Empty = no such links.
    site_base_url: str = Field(
        default="https://www.bedevs.be/hiring/",
        description="base URL of the guides' pages; a guide's url = base + its file's slug",
    )
    # Serving many questions at once (issue 13): questions that arrive together share one
    # forward pass of the model; a lone question never waits. Off = each request embeds its
    # own question, as before.
    embed_batching: bool = True
    # Questions go through the model's pass traced once (TorchScript), which gives the GIL
    # back once per question instead of at every operation (model.QueryForward); off = eager.
    embed_trace: bool = True
    # A one-shot command (`assistant ask`) loads the model in a second process while this
    # one imports llama-index and opens the index (model.ModelProcess); off = one process.
    model_process: bool = True
    embed_batch_max: int = Field(default=32, ge=1, description="questions per forward pass at most")
    embed_batch_wait_ms: float = Field(
        default=3.0, ge=0, le=100,
        description="how long a batch waits for questions of answers already in progress")
    embed_batch_workers: int = Field(
        default=0, ge=0, le=64, description="forward passes of questions at once; 0 = one per core")
    query_cache_size: int = Field(
        default=4096, ge=0, description="question vectors kept (LRU); 0 = no cache")
    # The answer path of one API request runs within this budget (issue 11); past it the
    # request gets 503 and its work stops at the next step. Per client, at most this many
    # answers run at once; the client's further requests wait in line within their budget.
    answer_budget_seconds: float = Field(default=10.0, gt=0, le=300)
    answers_per_client: int = Field(default=2, ge=1)
    retrieve_top_k: int = 8
    max_question_chars: int = 2000
    # History is sent by the client with every question, so it is capped like the question:
    # turns, characters per turn (a user turn is a question, so it has the question's
    # limit; an answer may be longer) and characters in all.
    max_history_turns: int = 20
    max_turn_chars: int = 8000
    max_history_chars: int = 32000
    host: str = "127.0.0.1"
    port: int = 7860
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit_per_minute: int = 60
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="addresses of reverse proxies whose X-Forwarded-For/-Proto are believed; "
        "empty = none (the peer address is the client)",
    )
    # The question log (issue 12): one record per answer, written off the request path.
    # Off = nothing is written and feedback is refused. The default database is a SQLite
    # file beside the index (questions.db in the index's parent folder); several `serve`
    # replicas share one PostgreSQL database instead.
    log: bool = Field(default=True, description="keep the question log (off/false = no log)")
    log_url: str | None = Field(
        default=None, description="sqlite:///path or postgresql://...; unset = questions.db beside the index")
    log_retention_days: int = Field(default=90, ge=1, le=3650,
                                    description="records older than this are deleted (at start, then daily)")
    log_queue_size: int = Field(default=10_000, ge=1,
                                description="records waiting to be written at most; past it they are dropped")
    # /admin/insights exists only when this is set, and answers only to `Authorization:
    # Bearer <token>`. Short tokens are refused: they can be guessed.
    admin_token: str | None = Field(default=None, min_length=16,
                                    description="enables /admin/insights (Bearer token)")

    @field_validator("site_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        url = urlsplit(value)
        if value and (url.scheme not in ("http", "https") or not url.netloc
                      or any(c.isspace() for c in value)):
            raise ValueError(f"must be an http(s) URL or empty, got {value!r}")
        return value

    @field_validator("log_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a sqlite:///... or postgresql://... URL")
        return value

    @field_validator("admin_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        # A comma-separated env var is easier to write than JSON in a shell or CI file.
        if isinstance(value, str):
            return [item.strip().rstrip("/") for item in value.split(",") if item.strip()]
        return value
