"""The HTTP app behind `assistant serve` (DESIGN §5): JSON API, widget files, chat page.

`create_app(settings, assistant)` returns one FastAPI app with
- `POST /api/ask` (the answer object), `GET /api/health`, OpenAPI at `/api/docs` (Swagger UI
  from an installed package, apidocs.py: the page works offline);
- `GET /widget.js` and `GET /widget/demo`, two fixed files from `ui/widget/` (no directory
  is served, so no request can reach a file outside them);
- the Gradio chat page mounted at `/` (optional, so API tests need not build it).

Protection on `/api/*`: cross-origin access only for `settings.allowed_origins` (guards.py);
a per-client rate limit (429) shared with the chat page's answering function; a JSON body
of bounded size, depth and number length (jsonbody.py) sent as `application/json` (415
otherwise); the request model's limits (request.py). Every error under `/api/`, unknown
paths and methods included, is JSON `{"error": message, "status": code}`.
Bounded cost (budget.py): an answer runs within `settings.answer_budget_seconds` (503 past
it) and one client has at most `settings.answers_per_client` answers running at once.
Issue 12: `POST /api/feedback` takes one 👍/👎 (and an optional comment) on an answer id;
`/api/health` shows the question log's counts (records dropped by a full queue among them);
`GET /admin/insights` (the editors' report, HTML or `?format=json`) exists only when
`settings.admin_token` is set and answers only to `Authorization: Bearer <token>`.
`server_options(settings)` is how uvicorn must run the app (which proxies to believe).
Running the server is the CLI's job; this file does not read the environment.
"""

from __future__ import annotations

import functools
import hmac
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from .answer import Answer
from .apidocs import add_docs
from .budget import AnswerBudget
from .chat import Assistant
from .errors import (
    AssistantError,
    MethodNotAllowed,
    NotFound,
    OverBudget,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)
from .guards import ApiOriginGuard, ClosedRoutes, error_response
from .jsonbody import parse_json, read_body
from .questionlog import validate_feedback
from .ratelimit import RateLimiter, client_key
from .request import ask_request_model, validate_ask
from .settings import Settings

log = logging.getLogger(__name__)

# 20 turns of history with long answers fit in well under this; anything bigger is not a
# question, and reading it would only cost memory.
MAX_BODY_BYTES = 128 * 1024
WIDGET_DIR = Path(__file__).resolve().parents[2] / "ui" / "widget"
ERROR_STATUSES = (400, 403, 404, 405, 413, 415, 422, 429, 503)
FEEDBACK_STATUSES = (400, 403, 404, 409, 413, 415, 422, 429)
# A vote, an id and a 500-character comment fit in well under this.
MAX_FEEDBACK_BYTES = 8 * 1024


class ErrorOut(BaseModel):
    error: str
    status: int


class FeedbackIn(BaseModel):
    id: str
    rating: str
    comment: str | None = None


class FeedbackOut(BaseModel):
    id: str
    rating: str
    comment: str | None


def error_for(error: AssistantError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(error, TooManyRequests | OverBudget):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(error.allow)
    return error_response(error.http_status, str(error), headers)


def _require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        given = media_type or "no content type"
        raise UnsupportedMediaType(f"send the body as application/json, not {given}")


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.run's keyword arguments for this app. X-Forwarded-For/-Proto are honoured
    only from the listed proxies: uvicorn would otherwise trust them from loopback, and any
    local client could then choose the address the rate limit counts."""
    proxies = settings.trusted_proxies
    return {"host": settings.host, "port": settings.port, "proxy_headers": bool(proxies),
            "forwarded_allow_ips": proxies or [], "server_header": False}


def _install_openapi(app: FastAPI, request_model: type[BaseModel]) -> None:
    """The request model's schema goes into components (its `$defs` too), so every `$ref`
    in the served document resolves within it."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = default_openapi()
            schema = request_model.model_json_schema(ref_template="#/components/schemas/{model}")
            components = spec.setdefault("components", {}).setdefault("schemas", {})
            components.update(schema.pop("$defs", {}))
            components[request_model.__name__] = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _api_catch_all(app: FastAPI):
    async def unknown(request: Request) -> JSONResponse:
        # Without this, an unknown /api/ path falls through to the Gradio mount at "/" and
        # gets its {"detail": ...}; a known path with another method gets 405.
        allow = sorted({method for route in app.router.routes
                        if not isinstance(route, Mount) and getattr(route, "endpoint", None) is not unknown
                        and route.matches(request.scope)[0] == Match.PARTIAL
                        for method in (getattr(route, "methods", None) or ())})
        if allow:
            raise MethodNotAllowed(f"{request.method} is not allowed here; use {', '.join(allow)}", allow)
        raise NotFound(f"no API endpoint at {request.url.path}")
    return unknown


def _question_log(assistant: Any) -> Any:
    from .questionlog import NullLog

    return getattr(assistant, "question_log", None) or NullLog()


def _add_admin(app: FastAPI, token: str, assistant: Assistant) -> None:
    """`GET /admin/insights`: the editors' report, for the admin token only. Added only when
    a token is set: without one the route does not exist."""
    expected = f"Bearer {token}".encode()

    @app.get("/admin/insights", include_in_schema=False)
    async def insights(request: Request, since: str = "30d", format: str = "html"):  # noqa: A002
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):  # constant time: the token is not guessable
            error = error_for(Unauthorized("this report needs the admin token "
                                           "(Authorization: Bearer <token>)"))
            error.headers["WWW-Authenticate"] = "Bearer"
            return error
        from .insights import build_report, parse_since, render_html

        window = parse_since(since)
        log_ = _question_log(assistant)
        if not log_.enabled:
            raise NotFound("this server keeps no question log (ASSISTANT_LOG=off)")
        report = await run_in_threadpool(build_report, assistant, log_, window)
        if format == "json":
            return JSONResponse(report)
        return HTMLResponse(render_html(report), headers={"Cache-Control": "no-store"})


def create_app(settings: Settings, assistant: Assistant, *, with_ui: bool = True,
               widget_dir: Path = WIDGET_DIR) -> FastAPI:
    """The whole server as one ASGI app; `assistant` is passed in so tests can share one."""
    # /api/docs is added by apidocs.py, from the installed swagger-ui-py files (no CDN).
    app = FastAPI(title="Hiring assistant", version="1", docs_url=None,
                  openapi_url="/api/openapi.json", redoc_url=None)
    limiter = RateLimiter(settings.rate_limit_per_minute)
    request_model = ask_request_model(settings)
    budget = AnswerBudget(settings.answer_budget_seconds, settings.answers_per_client)
    app.state.assistant, app.state.limiter, app.state.budget = assistant, limiter, budget

    @app.exception_handler(AssistantError)
    async def _assistant_error(_request: Request, error: AssistantError) -> JSONResponse:
        return error_for(error)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), dict(error.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "the request is not valid")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # One JSON line for the client; the traceback goes to the log.
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal error")

    @app.post("/api/ask", response_model=Answer, summary="Answer one question in its conversation",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": f"#/components/schemas/{request_model.__name__}"}}}}},
              responses={status: {"model": ErrorOut} for status in ERROR_STATUSES})
    async def ask(request: Request) -> JSONResponse:
        limiter.take(request)  # first: a refused client costs no body read
        _require_json(request)
        body = await read_body(request.headers.get("content-length"), request.stream(), MAX_BODY_BYTES)
        # Parsed and checked on a worker thread: 128 KiB of JSON takes ~10 ms, which on the
        # event loop would hold every other request for a burst of them.
        asked = await run_in_threadpool(lambda: validate_ask(parse_json(body), settings))
        # Only the body's conversation id and client name go to the question log: never the
        # request's address or headers.
        answer_fn = functools.partial(assistant.ask, interface=asked.client,
                                      conversation=asked.conversation)
        answer = await budget.run(client_key(request), answer_fn, asked.question, asked.history)
        return JSONResponse(answer.to_dict())

    @app.post("/api/feedback", status_code=201, response_model=FeedbackOut,
              summary="A thumbs-up or thumbs-down, with an optional comment, on one answer",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": FeedbackIn.model_json_schema()}}}},
              responses={status: {"model": ErrorOut} for status in FEEDBACK_STATUSES})
    async def feedback(request: Request) -> JSONResponse:
        limiter.take(request)
        _require_json(request)
        body = await read_body(request.headers.get("content-length"), request.stream(),
                               MAX_FEEDBACK_BYTES)
        vote = validate_feedback(parse_json(body))
        await run_in_threadpool(_question_log(assistant).feedback, vote)
        return JSONResponse({"id": vote.answer_id, "rating": vote.rating, "comment": vote.comment},
                            status_code=201)

    @app.get("/api/health", summary="Is the index loaded; which guides it holds; embedding figures")
    async def health() -> dict:
        catalogue = assistant.catalogue
        # model_load_ms: the embedding model's one-time load (null until it has loaded),
        # reported here because no answer's latency_ms includes it.
        return {"status": "ok", "guides": len(catalogue), "roles": catalogue.roles,
                "places": catalogue.places, "model_load_ms": assistant.model_load_ms,
                "embedding": assistant.embedding_stats(),
                "answers_in_progress": budget.in_progress(),
                "question_log": _question_log(assistant).stats()}

    if settings.admin_token:
        _add_admin(app, settings.admin_token, assistant)

    add_docs(app, app.openapi_url or "/api/openapi.json")
    app.add_api_route("/api/{path:path}", _api_catch_all(app), include_in_schema=False,
                      methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js() -> FileResponse:
        return FileResponse(widget_dir / "widget.js", media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=300"})

    @app.get("/widget/demo", include_in_schema=False)
    async def widget_demo() -> FileResponse:
        return FileResponse(widget_dir / "demo.html", media_type="text/html")

    _install_openapi(app, request_model)
    app.add_middleware(ClosedRoutes)
    app.add_middleware(ApiOriginGuard, allowed_origins=settings.allowed_origins)

    if with_ui:
        import gradio as gr

        from .ui import build_chat, mount_options

        app = gr.mount_gradio_app(app, build_chat(assistant, limiter), path="/", ssr_mode=False,
                                  mcp_server=False, enable_monitoring=False, pwa=False,
                                  max_file_size="1mb", **mount_options())
    return app
