"""``/ui/dashboard``: the time range and filter builder, then card groups and charts that each load on
their own (``hx-get=/ui/dashboard/panels/<name>``, ``hx-trigger=load``), so the page answers at once and
one slow panel holds back nothing else. Without JavaScript each placeholder is a link to its panel's
own page: a panel answers a whole page unless htmx asks for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from heliograph.api.context import app_context
from heliograph.services.errors import NotFound
from heliograph.web.dashboard_charts import increment_for
from heliograph.web.dashboard_panels import PANELS, Inputs
from heliograph.web.identity import Reader, url_root
from heliograph.web.request_scope import request_scope, toolbar_context
from heliograph.web.routing import UiRoute
from heliograph.web.templating import render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)


# Plain ``def`` routes: FastAPI runs them on its thread pool, so the panels a page asks for at once
# query the database side by side instead of queueing on the event loop.
@router.get("/dashboard")
def dashboard(request: Request, principal: Reader) -> HTMLResponse:
    scope = request_scope(request)
    cards = [(name, spec.title) for name, spec in PANELS.items() if spec.card]
    charts = [(name, spec.title) for name, spec in PANELS.items() if not spec.card]
    return render(
        request,
        "dashboard/page.html",
        params=scope.params(),
        increment=increment_for(scope.time_range),
        cards=cards,
        charts=charts,
        **toolbar_context(principal.auth, request, scope),
    )


@router.get("/dashboard/panels/{name}")
def dashboard_panel(
    request: Request, principal: Reader, name: Annotated[str, Path(max_length=40)]
) -> HTMLResponse:
    spec = PANELS.get(name)
    if spec is None:
        raise NotFound(f"the dashboard has no panel {name!r}: one of {', '.join(PANELS)}")
    scope = request_scope(request)
    panel = spec.build(Inputs(principal.auth, app_context(request), scope, url_root(request)))
    return render(
        request,
        "dashboard/panel_page.html",
        partial="dashboard/_panel.html",
        panel=panel,
        card=spec.card,
        params=scope.params(),
        time_range=scope.time_range,
    )
