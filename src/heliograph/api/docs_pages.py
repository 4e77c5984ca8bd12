"""``/docs`` (Swagger UI) served from a vendored copy, so it works without internet.

FastAPI's own pages load their scripts from a CDN (and Swagger UI sends the spec to a remote validator),
so on a machine without internet they stay blank. Here the scripts come from
``heliograph/web/static/vendor/`` (package data; see the README.md beside the copy for its package,
version and source), and nothing the page loads comes from another host.

There is no ``/redoc``: ReDoc's standalone bundle always loads its sidebar logo from cdn.redoc.ly, with
no option to turn that off, and one offline reference page is enough.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_PATH = "/static"
SWAGGER_UI = f"{STATIC_PATH}/vendor/swagger-ui-dist"
FAVICON = f"{SWAGGER_UI}/favicon-32x32.png"


def static_directory() -> Path:
    return Path(str(files("heliograph"))) / "web" / "static"


def install_docs(app: FastAPI) -> None:
    """Serve the static files and the page (the app must be built with ``docs_url=None`` and
    ``redoc_url=None``, which turns FastAPI's CDN pages off)."""
    app.mount(STATIC_PATH, StaticFiles(directory=static_directory()), name="static")
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=root + FAVICON,
            oauth2_redirect_url=None,
            # Swagger UI would otherwise send the spec to validator.swagger.io for its badge. Tags start
            # collapsed: with every one of the ~150 operations expanded, Swagger UI 5 stopped rendering
            # after the first few tags (seen in Chromium), and a list of tags reads better anyway.
            swagger_ui_parameters={"validatorUrl": None, "docExpansion": "none"},
        )
