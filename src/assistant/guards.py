"""ASGI guards in front of the whole app: who may call `/api/*`, and routes that stay closed.

- `ApiOriginGuard`: CORS for `/api/*` only. Origins are compared as (scheme, host, port),
  exactly (http and https are different origins; a default port may be written or not). A
  listed origin gets CORS headers, the server's own origin passes, any other `Origin` is
  refused with 403 before the request reaches the app; a refused preflight gets 400. A
  request with more than one `Origin` header is refused on every path: the guard and
  Starlette's CORS would read different ones.
- `ClosedRoutes`: Gradio routes no feature of the chat page uses (file upload), answered 404.

Every refusal is the API's JSON error shape, `{"error": message, "status": code}`.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
DEFAULT_PORTS = {"http": 80, "https": 443}
# The chat page is a text box: nothing uploads files. (Gradio prefixes its routes.)
CLOSED_PREFIXES = ("/gradio_api/upload",)

Origin = tuple[str, str, int]


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def parse_origin(origin: str) -> Origin | None:
    """(scheme, host, port) of a serialised origin, or None when it is not one (`null`, a
    path, credentials, another scheme)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if (parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None
            or parts.path not in ("", "/") or parts.query or parts.fragment):
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _request_origin(scope: Scope, host: str) -> Origin | None:
    """The origin this request was made to: its scheme (https when a trusted proxy said so)
    and its Host header."""
    scheme = scope.get("scheme", "http")
    return parse_origin(f"{scheme}://{host}") if host else None


class ApiOriginGuard:
    def __init__(self, app: ASGIApp, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed: dict[Origin, str] = {}
        for origin in allowed_origins:
            parsed = parse_origin(origin)
            if parsed is None:
                log.warning("ignoring allowed origin %r: not scheme://host[:port]", origin)
            else:
                self.allowed[parsed] = origin
        # The guard decides which origins pass (Starlette compares origin strings, not
        # origins); the CORS layer only sees those, and echoes each one back explicitly.
        self.cors = CORSMiddleware(app, allow_origin_regex=".*", allow_methods=["GET", "POST"],
                                   allow_headers=["Content-Type"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origins = [value for key, value in scope["headers"] if key.lower() == b"origin"]
        if len(origins) > 1:
            await error_response(400, "the request has more than one Origin header")(scope, receive, send)
            return
        if not scope["path"].startswith(API_PREFIX) or not origins:
            await self.app(scope, receive, send)  # not the API, or not a browser's cross-site call
            return
        headers = Headers(scope=scope)
        origin = origins[0].decode("latin-1")
        parsed = parse_origin(origin)
        if parsed is not None and parsed == _request_origin(scope, headers.get("host", "")):
            await self.app(scope, receive, send)
            return
        if parsed not in self.allowed:
            await error_response(403, f"origin {origin} is not allowed to use this API")(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(scope, receive, send, headers)
            return
        await self.cors(scope, receive, send)  # the origin is listed: CORS headers on the response

    async def _preflight(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        response = self.cors.preflight_response(request_headers=headers)
        if response.status_code != 200:  # Starlette says why in text/plain; the API speaks JSON
            reason = bytes(response.body).decode("latin-1")
            refusal = error_response(400, f"CORS preflight refused: {reason}")
            for name in ("access-control-allow-methods", "access-control-allow-headers", "vary"):
                if name in response.headers:
                    refusal.headers[name] = response.headers[name]
            response = refusal
        await response(scope, receive, send)


class ClosedRoutes:
    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = CLOSED_PREFIXES) -> None:
        self.app, self.prefixes = app, prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            await error_response(404, "not found")(scope, receive, send)
            return
        await self.app(scope, receive, send)
