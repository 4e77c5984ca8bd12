"""The Sessions pages: ``/ui/sessions`` lists sessions (search, time range and filters, sortable
columns, pages) and ``/ui/sessions/{sessionId}`` shows one session's requests as a tree by
``Helicone-Session-Path``, a timeline, or the conversation, switched by ``view=``.

The list reads ``SessionService.list_page``: sessions are totals over groups of requests, so a page is
an OFFSET into the sorted groups, bounded at ``MAX_LIST_OFFSET`` (the rollups keep the grouping cheap).
A session's requests are read with ``RequestService.page`` (keyset pages, oldest first, filtered by
the session id property), a page at a time; the tree and timeline lay out one page of them
(``session_views.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from heliograph.api.context import app_context
from heliograph.api.path_text import ANY_TEXT
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.members import Principal
from heliograph.services.sessions import MAX_LIST_OFFSET, SessionQuery, session_key
from heliograph.web.filter_builder import SESSION_ID
from heliograph.web.identity import Reader, url_root
from heliograph.web.request_scope import RequestScope, request_scope, toolbar_context
from heliograph.web.routing import UiRoute
from heliograph.web.session_views import VIEWS, iso_ms, session_view
from heliograph.web.templating import query_string, render, targets

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)
RESULTS = "sessions/_results.html"
PAGE_SIZE = 50
MAX_PAGE = MAX_LIST_OFFSET // PAGE_SIZE + 1
_FOREVER_MS = 253_402_300_799_999


@dataclass(frozen=True, slots=True)
class Column:
    sort: str  # the service's sort name
    label: str
    descending: bool  # the first direction a click asks for
    numeric: bool = False


#: URL sort name -> column; ``errors`` and ``users`` are counted per page, so they do not sort.
COLUMNS: dict[str, Column] = {
    "name": Column("session_name", "Name", False),
    "id": Column("session_id", "Session id", False),
    "requests": Column("total_requests", "Requests", True, numeric=True),
    "cost": Column("total_cost", "Cost", True, numeric=True),
    "tokens": Column("total_tokens", "Tokens", True, numeric=True),
    "duration": Column("duration", "Duration", True, numeric=True),
    "first": Column("created_at", "First seen", True),
    "last": Column("latest_request_created_at", "Last seen", True),
}
DEFAULT_SORT = "last"


@dataclass(frozen=True, slots=True)
class ListState:
    scope: RequestScope
    search: str
    sort: str
    descending: bool
    page: int

    def params(self, **changes: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            **self.scope.params(),
            "q": self.search or None,
            "sort": None if self.sort == DEFAULT_SORT else self.sort,
            "dir": None if self.descending == COLUMNS[self.sort].descending else self._direction(),
            "page": None if self.page == 1 else str(self.page),
        }
        params.update(changes)
        return params

    def _direction(self) -> str:
        return "desc" if self.descending else "asc"

    def query(self) -> SessionQuery:
        time_range = self.scope.time_range
        return SessionQuery(
            filter=self.scope.conditions_tree(),
            start_ms=time_range.bounded_start.timestamp() * 1000,
            end_ms=time_range.end.timestamp() * 1000,
            timezone_difference=0,
            search=self.search,
            offset=(self.page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )


def list_state(request: Request) -> ListState:
    query = request.query_params
    sort = query.get("sort") or DEFAULT_SORT
    if sort not in COLUMNS:
        raise InvalidInput(f"sort must be one of {', '.join(COLUMNS)}, not {sort[:40]!r}")
    direction = query.get("dir") or ("desc" if COLUMNS[sort].descending else "asc")
    if direction not in ("asc", "desc"):
        raise InvalidInput(f"dir must be asc or desc, not {direction[:10]!r}")
    text = query.get("page") or "1"
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise InvalidInput(f"page must be a number from 1 to {MAX_PAGE}, not {text[:20]!r}")
    search = (query.get("q") or "").strip()[:200]
    return ListState(request_scope(request), search, sort, direction == "desc", int(text))


def session_href(root: str, session_id: str) -> str:
    return f"{root}/ui/sessions/{quote(session_id, safe='')}"


def _headers(state: ListState) -> list[dict[str, Any]]:
    cells = []
    for name, column in COLUMNS.items():
        current = name == state.sort
        descending = not state.descending if current else column.descending
        direction = "desc" if descending else "asc"
        cells.append(
            {
                "label": column.label,
                "numeric": column.numeric,
                "href": query_string(
                    state.params(
                        sort=None if name == DEFAULT_SORT else name,
                        dir=None if descending == column.descending else direction,
                        page=None,
                    )
                ),
                "aria_sort": ("descending" if state.descending else "ascending") if current else None,
            }
        )
    return cells


def _results(request: Request, principal: Principal, state: ListState) -> dict[str, Any]:
    service = app_context(request).sessions
    rows, more = service.list_page(
        principal.auth, state.query(), sort=COLUMNS[state.sort].sort, descending=state.descending
    )
    root = url_root(request)
    for row in rows:
        row["href"] = session_href(root, row["session_id"])
    return {
        "state": state,
        "rows": rows,
        "columns": _headers(state),
        "next_link": query_string(state.params(page=str(state.page + 1))) if more else None,
        "previous_link": query_string(state.params(page=None if state.page == 2 else str(state.page - 1)))
        if state.page > 1
        else None,
        "at_limit": more and state.page == MAX_PAGE,
    }


@router.get("/sessions")
def sessions_page(request: Request, principal: Reader) -> Response:
    state = list_state(request)
    context = _results(request, principal, state)
    if not targets(request, "results"):
        context.update(toolbar_context(principal.auth, request, state.scope))
    return render(request, "sessions/page.html", partials={"results": RESULTS}, **context)


def _session_totals(request: Request, principal: Principal, key: str) -> dict[str, Any]:
    """The session's totals over all its requests (a session may carry more than one name: summed)."""
    query = SessionQuery(
        filter={"request_response_rmt": {"properties": {SESSION_ID: {"equals": key}}}},
        start_ms=0,
        end_ms=_FOREVER_MS,
        timezone_difference=0,
        limit=20,
    )
    rows, _ = app_context(request).sessions.list_page(principal.auth, query)
    if not rows:
        raise NotFound(f"session {key[:80]!r} not found")
    first = min(rows, key=lambda row: row["created_at"])
    last = max(rows, key=lambda row: row["latest_request_created_at"])
    return {
        "session_id": key,
        "names": sorted({row["session_name"] for row in rows if row["session_name"]}),
        "total_requests": sum(row["total_requests"] for row in rows),
        "total_cost": sum(row["total_cost"] for row in rows),
        "prompt_tokens": sum(row["prompt_tokens"] for row in rows),
        "completion_tokens": sum(row["completion_tokens"] for row in rows),
        "errors": sum(row["errors"] for row in rows),
        "created_at": first["created_at"],
        "latest_request_created_at": last["latest_request_created_at"],
        "duration_ms": iso_ms(last["latest_request_created_at"]) - iso_ms(first["created_at"]),
        "users": sorted({user for row in rows for user in row["user_ids"]}),
    }


@router.get("/sessions/{session_id:" + ANY_TEXT + "}")
def session_page(
    request: Request,
    principal: Reader,
    session_id: str,
    view: Annotated[str, Query(max_length=20)] = "tree",
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    node: Annotated[str | None, Query(max_length=4000)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """One session. ``node`` (a path of the tree, ``/`` for its top) with ``offset`` answers the
    children a tree's "show more" control stands for: a fragment for htmx, a page without it."""
    if view not in VIEWS:
        raise InvalidInput(f"view must be one of {', '.join(VIEWS)}, not {view[:20]!r}")
    key = session_key(session_id)
    base = session_href(url_root(request), key)
    shown = session_view(request, principal, key, view, cursor, base, node=node, offset=offset)
    if node is not None:
        return render(
            request,
            "sessions/children.html",
            partial="sessions/_nodes.html",
            session_id=key,
            base=base,
            **shown,
        )
    totals = _session_totals(request, principal, key)
    params = {"cursor": cursor}
    return render(
        request,
        "sessions/detail.html",
        session=totals,
        base=base,
        view=view,
        views=VIEWS,
        params=params,
        **shown,
    )
