"""``/ui/users``: every user (the requests naming one) with their totals in a time range, searchable
and sortable, each linking to their requests.

The table is ``UserService.metrics`` (``POST /v1/user/metrics/query``), which reads the per-user daily
rollups; it pages by offset (the service has no keyset), so the page number is capped. The mean
latency, which the rollups do not hold, is read from the rows for the users of the shown page only,
after the table is up (``/ui/users/latencies``, swapped into the cells by id); without JavaScript a
link asks for the page with it (``latency=1``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services.errors import InvalidInput
from heliograph.services.users import UserMetricsQuery
from heliograph.web.identity import Reader, ui_path
from heliograph.web.request_scope import time_range_of
from heliograph.web.routing import UiRoute
from heliograph.web.templating import is_fragment_request, query_string, render
from heliograph.web.time_range import PRESETS, TimeRange

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

PAGE_SIZE = 50
#: Offset paging reads and skips every earlier row: 200 pages (10,000 users) deep at most.
MAX_PAGE = 200
#: Column (URL ``sort`` value) -> its header; every one is a ``SortLeafUsers`` key of the service.
COLUMNS = {
    "user_id": "User",
    "total_requests": "Requests",
    "cost": "Cost",
    "total_prompt_tokens": "Prompt tokens",
    "total_completion_tokens": "Completion tokens",
    "average_tokens_per_request": "Tokens per request",
    "active_for": "Active days",
    "first_active": "First seen",
    "last_active": "Last seen",
}
DEFAULT_SORT = ("last_active", "desc")
DEFAULT_RANGE = "7d"


@dataclass(frozen=True, slots=True)
class UserListState:
    """The table's state, all from the URL."""

    time_range: TimeRange
    search: str
    sort: str
    direction: str
    page: int
    latency: bool = False

    def params(self, **changes: Any) -> dict[str, Any]:
        """The URL parameters of this state with ``changes`` applied (for links that keep the rest)."""
        params: dict[str, Any] = {
            **self.time_range.params(),
            "q": self.search,
            "sort": self.sort,
            "dir": self.direction,
            "page": self.page,
            "latency": 1 if self.latency else None,
        }
        params.update(changes)
        if params["sort"] == DEFAULT_SORT[0] and params["dir"] == DEFAULT_SORT[1]:
            params["sort"] = params["dir"] = None
        if params["page"] == 1:
            params["page"] = None
        return params


def _state(
    request: Request, search: str, sort: str | None, direction: str | None, page: int, latency: bool
) -> UserListState:
    time_range = time_range_of(request, default=DEFAULT_RANGE)
    chosen = sort or DEFAULT_SORT[0]
    if chosen not in COLUMNS:
        raise InvalidInput(f"sort must be one of {', '.join(COLUMNS)}, not {chosen[:40]!r}")
    if direction not in (None, "asc", "desc"):
        raise InvalidInput(f"dir must be asc or desc, not {direction[:10]!r}")
    if page > MAX_PAGE:
        raise InvalidInput(f"page must be at most {MAX_PAGE}: search for a user to narrow the list")
    order = direction or ("asc" if chosen == "user_id" else "desc")
    return UserListState(time_range, search.strip(), chosen, order, page, latency)


@router.get("/users")
def users_page(
    request: Request,
    principal: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
    sort: Annotated[str | None, Query(max_length=40)] = None,
    dir: Annotated[str | None, Query(max_length=10)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    latency: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    state = _state(request, q, sort, dir, page, latency)
    service = app_context(request).users
    start, end = state.time_range.epoch_seconds()
    query = UserMetricsQuery(
        filter="all",
        offset=(state.page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
        start_seconds=start,
        end_seconds=end,
        sort={state.sort: state.direction},
        search=state.search,
    )
    found = service.metrics(principal.auth, query)
    rows = found["users"]
    ids = [row["user_id"] for row in rows]
    latencies = service.average_latencies(principal.auth, ids, start, end) if state.latency else None
    pages = min(max(math.ceil(found["count"] / PAGE_SIZE), 1), MAX_PAGE)
    return render(
        request,
        "users/page.html",
        partials={"user-results": "users/_results.html"},
        state=state,
        rows=rows,
        latencies=latencies,
        latency_url=_latency_url(request, state.time_range, ids),
        cell_id=cell_id,
        count=found["count"],
        pages=pages,
        capped=found["count"] > MAX_PAGE * PAGE_SIZE,
        columns=COLUMNS,
        presets=PRESETS,
        time_range=state.time_range,
        requests_link=lambda user: _requests_link(request, state, user),
    )


def _requests_link(request: Request, state: UserListState, user: str) -> str:
    params = {**state.time_range.params(), "ff": "user", "fo": "equals", "fv": user}
    return ui_path(request, "/requests") + query_string(params)


def cell_id(user: str) -> str:
    """The id of a user's mean-latency cell: from a digest, since a user id may be any text."""
    return "latency-" + hashlib.blake2s(user.encode(), digest_size=8).hexdigest()


def _latency_url(request: Request, time_range: TimeRange, users: list[str]) -> str:
    return ui_path(request, "/users/latencies") + query_string({**time_range.params(), "u": users})


@router.get("/users/latencies")
def user_latencies(
    request: Request, principal: Reader, u: Annotated[list[str] | None, Query(max_length=PAGE_SIZE)] = None
) -> Response:
    """The mean latency of one page's users, as cells that replace theirs by id (htmx out-of-band)."""
    time_range = time_range_of(request, default=DEFAULT_RANGE)
    if not is_fragment_request(request):
        # Opened as a page: the users page with its latencies.
        page = ui_path(request, "/users") + query_string({**time_range.params(), "latency": 1})
        return RedirectResponse(page, status_code=303)
    users = [user[:1000] for user in u or []]
    start, end = time_range.epoch_seconds()
    latencies = app_context(request).users.average_latencies(principal.auth, users, start, end)
    return render(
        request,
        "users/_latencies.html",
        partial="users/_latencies.html",
        users=users,
        latencies=latencies,
        cell_id=cell_id,
    )
