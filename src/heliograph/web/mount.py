"""Mounting the UI on the app: its routers, and ``/`` and ``/ui`` sending a browser to the first page."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse

from heliograph.web import sign_in
from heliograph.web.identity import ui_path

ROUTERS = [sign_in.router]


def install_ui(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> RedirectResponse:
        return RedirectResponse(ui_path(request, sign_in.HOME), status_code=307)

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    async def ui_root(request: Request) -> RedirectResponse:
        return RedirectResponse(ui_path(request, sign_in.HOME), status_code=307)
