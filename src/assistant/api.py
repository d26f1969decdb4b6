"""The HTTP app behind `assistant serve` (DESIGN §5): JSON API, widget files, chat page.

`create_app(settings, assistant)` returns one FastAPI app with
- `POST /api/ask` (the answer object), `GET /api/health`, OpenAPI at `/api/docs`;
- `GET /widget.js` and `GET /widget/demo`, two fixed files from `ui/widget/` (no directory
  is served, so no request can reach a file outside them);
- the Gradio chat page mounted at `/` (optional, so API tests need not build it).

Protection on `/api/*`: a cross-origin request is answered only for an origin listed in
`settings.allowed_origins` (default: same origin only), refused with 403 otherwise; a
per-client rate limit (429); a request body limit (413) and the core's question limits.
Every error is JSON `{"error": message, "status": code}`. Running the server is the CLI's
job; this file does not read the environment.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from .answer import Answer
from .chat import Assistant
from .errors import AssistantError
from .ratelimit import RateLimiter
from .settings import Settings

log = logging.getLogger(__name__)

# 20 turns of history with long answers fit in well under this; anything bigger is not a
# question, and reading it would only cost memory.
MAX_BODY_BYTES = 128 * 1024
WIDGET_DIR = Path(__file__).resolve().parents[2] / "ui" / "widget"
API_PREFIX = "/api/"


class Turn(BaseModel):
    role: str = Field(description='"user" or "assistant"')
    content: str


class AskRequest(BaseModel):
    question: str = Field(description="the recruiter's question, 1 to 2,000 characters")
    history: list[Turn] = Field(default_factory=list, description="the conversation so far, oldest first")


class ErrorOut(BaseModel):
    error: str
    status: int


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def _origin_key(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class ApiOriginGuard:
    """CORS for `/api/*` only: listed origins get CORS headers, same-origin requests pass,
    any other `Origin` is refused with 403 before the request reaches the app (so a page
    on an unlisted site cannot even spend the server's time). Other paths are untouched."""

    def __init__(self, app: ASGIApp, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed = {_origin_key(origin) for origin in allowed_origins}
        self.cors = CORSMiddleware(app, allow_origins=sorted(self.allowed), allow_methods=["GET", "POST"],
                                   allow_headers=["Content-Type"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        origin = headers.get("origin")
        if origin is None or self._same_origin(origin, headers.get("host", "")):
            await self.app(scope, receive, send)
            return
        if _origin_key(origin) not in self.allowed:
            response = error_response(403, f"origin {origin} is not allowed to use this API")
            await response(scope, receive, send)
            return
        await self.cors(scope, receive, send)

    @staticmethod
    def _same_origin(origin: str, host: str) -> bool:
        # Compared on host:port only: behind a TLS proxy the app sees http while the page is https.
        return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


async def _read_json(request: Request) -> Any:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ApiError(400, "invalid Content-Length")
        if int(length) > MAX_BODY_BYTES:
            raise ApiError(413, f"the request body is over {MAX_BODY_BYTES // 1024} KiB")
    body = bytearray()
    async for chunk in request.stream():  # also bounds bodies sent without Content-Length
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"the request body is over {MAX_BODY_BYTES // 1024} KiB")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, 'the body is not valid JSON; send {"question": str, "history": [...]}') from None


def _client_key(request: Request) -> str:
    # The peer address; behind a reverse proxy that would be the proxy, so run one limiter
    # per replica behind it or put the limit in the proxy. X-Forwarded-For is not trusted.
    return request.client.host if request.client else "unknown"


def create_app(settings: Settings, assistant: Assistant, *, with_ui: bool = True,
               widget_dir: Path = WIDGET_DIR) -> FastAPI:
    """The whole server as one ASGI app; `assistant` is passed in so tests can share one."""
    app = FastAPI(title="Hiring assistant", version="1", docs_url="/api/docs",
                  openapi_url="/api/openapi.json", redoc_url=None)
    limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.assistant, app.state.limiter = assistant, limiter

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.message, error.headers)

    @app.exception_handler(AssistantError)
    async def _assistant_error(_request: Request, error: AssistantError) -> JSONResponse:
        return error_response(error.http_status, str(error))

    @app.post("/api/ask", response_model=Answer, summary="Answer one question in its conversation",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": AskRequest.model_json_schema()}}}},
              responses={400: {"model": ErrorOut}, 403: {"model": ErrorOut}, 413: {"model": ErrorOut},
                         422: {"model": ErrorOut}, 429: {"model": ErrorOut}, 503: {"model": ErrorOut}})
    async def ask(request: Request) -> JSONResponse:
        allowed, wait = limiter.allow(_client_key(request))
        if not allowed:
            raise ApiError(429, "too many requests; try again in a moment",
                           {"Retry-After": str(max(1, round(wait)))})
        payload = await _read_json(request)
        if not isinstance(payload, dict) or "question" not in payload:
            raise ApiError(422, 'expected a JSON object {"question": str, "history": [...]}')
        try:
            answer = await run_in_threadpool(assistant.ask, payload["question"], payload.get("history"))
        except AssistantError:
            raise
        except Exception:  # one JSON line for the client; the traceback goes to the log
            log.exception("ask failed")
            raise ApiError(500, "internal error while answering") from None
        return JSONResponse(answer.to_dict())

    @app.get("/api/health", summary="Is the index loaded; which guides it holds")
    async def health() -> dict:
        catalogue = assistant.catalogue
        return {"status": "ok", "guides": len(catalogue), "roles": catalogue.roles,
                "places": catalogue.places}

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js() -> FileResponse:
        return FileResponse(widget_dir / "widget.js", media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=300"})

    @app.get("/widget/demo", include_in_schema=False)
    async def widget_demo() -> FileResponse:
        return FileResponse(widget_dir / "demo.html", media_type="text/html")

    app.add_middleware(ApiOriginGuard, allowed_origins=settings.allowed_origins)

    if with_ui:
        import gradio as gr

        from .ui import build_chat

        app = gr.mount_gradio_app(app, build_chat(assistant), path="/", ssr_mode=False, mcp_server=False,
                                  enable_monitoring=False, pwa=False, max_file_size="1mb",
                                  footer_links=["api"])
    return app
