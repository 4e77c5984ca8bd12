"""``/ui/properties``: the custom property keys the requests carry, hiding and restoring them, and for
the chosen key (``key=``) its top values by requests and by cost and its requests over time, each
value linking to its requests. Everything reads ``PropertyService``, called as the Property API calls
it, so the property rollups answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services.keys import AuthContext
from heliograph.web.dashboard_charts import Chart, increment_for, pivot_chart
from heliograph.web.identity import FormCheck, Reader, Writer, ui_path
from heliograph.web.request_scope import time_range_of
from heliograph.web.routing import UiRoute
from heliograph.web.templating import query_string, render
from heliograph.web.time_range import PRESETS, TimeRange

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)
#: The Property API's "Other": the rest of the requests that have the key, not a value of it.
OTHER = "Other"
MAX_KEY = 1000


def _details(request: Request, auth: AuthContext, key: str, time_range: TimeRange) -> dict[str, Any]:
    """The chosen key's top values (by requests, by cost) and a chart of its top values' requests."""
    service = app_context(request).properties
    start, end = time_range.iso_start(), time_range.iso_end()
    by_count = service.top(auth, key, start, end, "count")
    by_cost = service.top(auth, key, start, end, "cost")
    unit = increment_for(time_range)
    rows = service.over_time(auth, key, start=start, end=end, node="all", unit=unit, tz=0)
    # One line per top value (a key may have thousands of values); the table holds the same lines.
    shown = {item["value"] for item in by_count if item["value"] != OTHER}
    chart: Chart = pivot_chart(
        "chart-property",
        f"Requests per {unit}, top values of {key}",
        "count",
        unit,
        rows,
        group="property",
        value="request_count",
        time_field="created_at_trunc",
        skip=lambda row: row["property"] not in shown,
        trim=time_range.start is None,
        missing=0,
    )
    return {"by_count": by_count, "by_cost": by_cost, "chart": chart}


@router.get("/properties")
def properties_page(
    request: Request, principal: Reader, key: Annotated[str, Query(max_length=MAX_KEY)] = ""
) -> HTMLResponse:
    time_range = time_range_of(request, default="7d")
    service = app_context(request).properties
    keys = [item["property"] for item in service.keys(principal.auth)]
    hidden = [item["property"] for item in service.hidden(principal.auth)]
    details = _details(request, principal.auth, key, time_range) if key else None
    params = {**time_range.params(), "key": key or None}

    def value_link(value: str) -> str:
        found = {**time_range.params(), "ff": f"prop:{key}", "fo": "equals", "fv": value}
        return ui_path(request, "/requests") + query_string(found)

    return render(
        request,
        "properties/page.html",
        keys=keys,
        hidden=hidden,
        key=key,
        details=details,
        params=params,
        time_range=time_range,
        presets=PRESETS,
        other=OTHER,
        value_link=value_link,
    )


def _back(request: Request, back: BackTo) -> Response:
    """Back to the page the form was on (its time range and chosen key), as a new GET."""
    params = {"range": back.range or None, "start": back.start or None, "end": back.end or None}
    target = ui_path(request, "/properties") + query_string({**params, "key": back.chosen or None})
    return RedirectResponse(target, status_code=303)


class BackTo:
    """The page state a hide or restore form carries, to return to it."""

    def __init__(
        self,
        range: Annotated[str, Form(max_length=20)] = "",
        start: Annotated[str, Form(max_length=40)] = "",
        end: Annotated[str, Form(max_length=40)] = "",
        chosen: Annotated[str, Form(max_length=MAX_KEY)] = "",
    ) -> None:
        self.range, self.start, self.end, self.chosen = range, start, end, chosen


@router.post("/properties/hide", dependencies=[FormCheck])
def hide_property(
    request: Request,
    principal: Writer,
    key: Annotated[str, Form(min_length=1, max_length=MAX_KEY)],
    back: Annotated[BackTo, Depends()],
) -> Response:
    app_context(request).properties.hide(principal.auth, key)
    return _back(request, back)


@router.post("/properties/restore", dependencies=[FormCheck])
def restore_property(
    request: Request,
    principal: Writer,
    key: Annotated[str, Form(min_length=1, max_length=MAX_KEY)],
    back: Annotated[BackTo, Depends()],
) -> Response:
    app_context(request).properties.restore(principal.auth, key)
    return _back(request, back)
