"""The API's documentation page, `/api/docs`, served with no CDN.

FastAPI's default page loads Swagger UI's script and stylesheet from a CDN, so offline (or
behind a firewall) it is blank (issue 10). Here the same Swagger UI files come from the
`swagger-ui-py` package installed with the assistant: its `static/` folder is located
without importing the package (its `__init__` imports web-framework adapters we don't use),
and exactly three of its files are served, by name, under `/api/docs/assets/`. No folder is
served, so no request reaches any other file. This module does not build the OpenAPI
document (FastAPI does, at `/api/openapi.json`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from .errors import NotFound

DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
# name served -> media type; nothing else from the package is reachable.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def swagger_ui_dir() -> Path:
    """The folder of Swagger UI's built files inside the installed `swagger-ui-py` package."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed (pip install -e .)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"swagger-ui-py at {folder} lacks {', '.join(missing)}")
    return folder


def add_docs(app: FastAPI, openapi_url: str, folder: Path | None = None) -> None:
    """Route `/api/docs` and its assets on `app` (before any `/api/` catch-all route)."""
    folder = folder or swagger_ui_dir()

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise NotFound(f"no API endpoint at {ASSETS_PATH}/{name}")
        return FileResponse(folder / name, media_type=ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})
