"""The Requests page (``/ui/requests``): every logged request, filtered, sorted by any column and
keyset-paged, with a live tail, exports of the current filter and of the rows a person selected.

Its state is in the URL (``request_list.py``). Pages read only the rows they show: no exact count and
no OFFSET, so the thousandth page of a million requests costs what the first does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from heliograph.api.context import app_context
from heliograph.services.errors import InvalidInput
from heliograph.services.members import Principal
from heliograph.services.requests import RequestQuery
from heliograph.web.identity import FormCheck, Reader
from heliograph.web.request_export import (
    EXPORT_PAGE_ROWS,
    PageReader,
    all_rows,
    csv_download,
    jsonl_download,
)
from heliograph.web.request_list import (
    PAGE_SIZES,
    ListState,
    describe_sort,
    display_rows,
    header_links,
    list_state,
    property_sorts,
)
from heliograph.web.request_scope import toolbar_context
from heliograph.web.routing import UiRoute
from heliograph.web.templating import query_string, render, targets

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)
RESULTS = "requests/_results.html"
MAX_SELECTED = 1000
LIVE_ROWS = 200


def gateway_url(request: Request) -> str:
    """The OpenAI-compatible gateway's base URL as this person reaches the server."""
    public = app_context(request).settings.public_url
    base = public or str(request.base_url).rstrip("/")
    return f"{base}/v1/gateway/oai/v1"


def _empty_kind(request: Request, principal: Principal, state: ListState) -> str:
    """Why there are no rows: past the last page, nothing matches, or nothing was ever logged (then
    the page tells how to send traffic)."""
    if state.cursor:
        return "past-end"
    anything, _ = app_context(request).requests.page(principal.auth, RequestQuery(limit=1), None)
    return "filtered" if anything else "nothing"


def results_context(request: Request, principal: Principal, state: ListState) -> dict[str, Any]:
    context = app_context(request)
    rows, next_cursor = context.requests.page(principal.auth, state.query(), state.cursor)
    params = state.params()
    keys = [item["property"] for item in context.properties.keys(principal.auth)]
    return {
        "state": state,
        "params": params,
        # A request's link keeps the list's whole state, the live tail too: closing the drawer puts
        # the list's URL back in the address bar, which must still say what the page is doing.
        "row_params": params,
        "rows": display_rows(rows),
        "header_cells": header_links(state),
        "sort_label": describe_sort(state),
        "property_sorts": property_sorts(state, keys),
        "next_link": None if next_cursor is None else query_string(params, cursor=next_cursor, live=None),
        "first_link": query_string(params, cursor=None) if state.cursor else None,
        "empty": None if rows else _empty_kind(request, principal, state),
        "gateway_url": gateway_url(request),
        "page_sizes": PAGE_SIZES,
    }


@router.get("/requests")
def requests_page(request: Request, principal: Reader) -> Response:
    state = list_state(request)
    context = results_context(request, principal, state)
    if not targets(request, "results"):
        context.update(toolbar_context(principal.auth, request, state.scope))
    return render(request, "requests/page.html", partials={"results": RESULTS}, **context)


@router.get("/requests/live")
def live_rows(
    request: Request, principal: Reader, after: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    """Rows newer than ``after`` (the newest row shown), newest first, for the live tail to put at
    the top of the table; 204 (htmx swaps nothing) when there are none."""
    state = list_state(request)
    if not state.newest_first:
        raise InvalidInput("the live tail follows the newest-first order only: remove sort and dir")
    query = state.query(limit=LIVE_ROWS)
    rows = app_context(request).requests.newer_than(principal.auth, query, after or None, limit=LIVE_ROWS)
    if not rows:
        return Response(status_code=204)
    # The rows join a live list's first page (the poll's own URL leaves ``live`` out).
    params = {**{name: value for name, value in state.params().items() if name != "cursor"}, "live": "1"}
    return render(request, "requests/_live.html", rows=display_rows(rows), row_params=params)


def _reader(request: Request, principal: Principal, state: ListState, with_bodies: bool) -> PageReader:
    service = app_context(request).requests
    query = state.query(limit=EXPORT_PAGE_ROWS)
    return lambda cursor: service.page(principal.auth, query, cursor, with_bodies=with_bodies)


@router.get("/requests/export.csv")
def export_csv(request: Request, principal: Reader) -> Response:
    """Every request of the current filter (all pages, in the page's order) as CSV."""
    state = list_state(request)
    return csv_download(_reader(request, principal, state, False), app_context(request).clock())


@router.get("/requests/export.jsonl")
def export_jsonl(request: Request, principal: Reader, bodies: str = "") -> Response:
    """Every request of the current filter as JSON Lines: one Request API row a line (``bodies=1``:
    with the request and response bodies)."""
    state = list_state(request)
    pages = all_rows(_reader(request, principal, state, bodies in ("1", "true", "on")))
    return jsonl_download(pages, app_context(request).clock())


@router.post("/requests/export-selected", dependencies=[FormCheck])
def export_selected(
    request: Request,
    principal: Reader,
    selected: Annotated[list[str] | None, Form()] = None,
    bodies: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The rows a person ticked, as JSON Lines (the same rows as the export of a filter)."""
    ids = list(dict.fromkeys(selected or []))
    if not ids:
        raise InvalidInput("select at least one request to export")
    if len(ids) > MAX_SELECTED:
        raise InvalidInput(f"at most {MAX_SELECTED} requests can be exported by selection")
    service = app_context(request).requests
    if bodies in ("1", "true", "on"):
        found = [service.get(principal.auth, request_id, include_body=True) for request_id in ids]
        rows = [row for row in found if row is not None]
    else:
        rows = service.get_many(principal.auth, ids)
    return jsonl_download([rows], app_context(request).clock())
