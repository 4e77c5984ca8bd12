"""Mounting the UI on the app: its routers, and ``/`` and ``/ui`` sending a browser to the first page."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse

from heliograph.web import (
    alert_pages,
    dashboard_pages,
    dataset_pages,
    evaluator_pages,
    experiment_forms,
    experiment_pages,
    prompt_pages,
    property_pages,
    redaction_pages,
    request_detail,
    request_pages,
    retention_pages,
    session_pages,
    settings_pages,
    sign_in,
    trace_pages,
    user_pages,
    webhook_pages,
)
from heliograph.web.identity import ui_path

# request_pages before any router with /ui/requests/{id}: its /ui/requests/export.csv and /live
# must match first.
ROUTERS = [
    sign_in.router,
    request_pages.router,
    prompt_pages.router,
    settings_pages.router,
    redaction_pages.router,
    retention_pages.router,
    request_detail.router,
    dashboard_pages.router,
    user_pages.router,
    property_pages.router,
    trace_pages.router,
    session_pages.router,
    evaluator_pages.router,
    alert_pages.router,
    dataset_pages.router,
    experiment_pages.router,
    experiment_forms.router,
    webhook_pages.router,
]


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
