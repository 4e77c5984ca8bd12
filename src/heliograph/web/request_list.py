"""The Requests list's state as its URL holds it, and what its table shows.

Parameters: the scope (time range and filter builder, see ``request_scope.py``), ``sort`` (a column:
``created_at``, ``latency``, ``cost``, ``total_tokens``, ``prompt_tokens``, ``completion_tokens``,
``time_to_first_token``, ``user_id``, ``model``, ``is_cached`` or ``prop:<key>``) and ``dir``
(``asc``/``desc``), ``limit`` (rows per page), ``cursor`` (the keyset page) and ``live`` (the live
tail, on the newest-first first page only). Each becomes the Request API's own sort leaf and filter
tree, so the list shows exactly what ``POST /v1/request/query`` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from heliograph.services.errors import InvalidInput
from heliograph.services.request_view import ZERO_UUID
from heliograph.services.requests import RequestQuery
from heliograph.web.filter_builder import PROPERTY_PREFIX, SESSION_ID, SESSION_NAME, SESSION_PATH
from heliograph.web.request_scope import RequestScope, request_scope
from heliograph.web.templating import query_string

#: URL sort names -> the Request API's sort leaves.
SORT_LEAVES = {
    "created_at": "created_at",
    "latency": "latency",
    "cost": "cost",
    "total_tokens": "total_tokens",
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "time_to_first_token": "time_to_first_token",
    "user_id": "user_id",
    "model": "body_model",
    "body_model": "body_model",
    "is_cached": "is_cached",
}
DEFAULT_SORT = "created_at"
PAGE_SIZES = (10, 25, 50, 100, 200)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: Shown in their own column, so left out of the short properties.
SESSION_KEYS = (SESSION_ID, SESSION_NAME, SESSION_PATH)
_SHORT_PROPERTIES = 3
_SHORT_VALUE_CHARS = 40
_MAX_PARAM_CHARS = 2000


@dataclass(frozen=True, slots=True)
class ListState:
    scope: RequestScope
    sort: str
    direction: str  # "asc" or "desc"
    limit: int
    cursor: str | None
    live: bool

    @property
    def newest_first(self) -> bool:
        return self.sort == DEFAULT_SORT and self.direction == "desc"

    @property
    def live_on(self) -> bool:
        """The live tail runs on the newest-first first page only: anywhere else, new rows have no
        place at the top."""
        return self.live and self.newest_first and not self.cursor

    def sort_leaf(self) -> dict[str, Any]:
        if self.sort.startswith(PROPERTY_PREFIX):
            return {"properties": {self.sort[len(PROPERTY_PREFIX) :]: self.direction}}
        return {SORT_LEAVES[self.sort]: self.direction}

    def query(self, limit: int | None = None) -> RequestQuery:
        return RequestQuery(filter=self.scope.tree(), sort=self.sort_leaf(), limit=limit or self.limit)

    def params(self) -> dict[str, Any]:
        """The URL parameters of this state (defaults left out), for links that keep it."""
        params: dict[str, Any] = self.scope.params()
        if not self.newest_first:
            params.update(sort=self.sort, dir=self.direction)
        if self.limit != DEFAULT_LIMIT:
            params["limit"] = str(self.limit)
        if self.cursor:
            params["cursor"] = self.cursor
        if self.live_on:
            params["live"] = "1"
        return params


def _limit(text: str | None) -> int:
    if not text:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {text[:20]!r}")
    return int(text)


def _sort(text: str | None) -> str:
    sort = (text or DEFAULT_SORT)[:_MAX_PARAM_CHARS]
    if sort == "body_model":
        return "model"
    if sort in SORT_LEAVES or (sort.startswith(PROPERTY_PREFIX) and len(sort) > len(PROPERTY_PREFIX)):
        return sort
    names = ", ".join(name for name in SORT_LEAVES if name != "body_model")
    raise InvalidInput(f"cannot sort by {sort[:60]!r}: sort by one of {names}, or prop:<key>")


def list_state(request: Request) -> ListState:
    """The list named by the request's URL; a bad parameter raises ``InvalidInput`` (a 400 page)."""
    query = request.query_params
    scope = request_scope(request, default_range="all")
    direction = query.get("dir") or "desc"
    if direction not in ("asc", "desc"):
        raise InvalidInput(f"dir must be asc or desc, not {direction[:20]!r}")
    cursor = (query.get("cursor") or "")[:_MAX_PARAM_CHARS] or None
    live = query.get("live", "") in ("1", "true", "on")
    return ListState(scope, _sort(query.get("sort")), direction, _limit(query.get("limit")), cursor, live)


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    sort: str | None = None  # the URL sort name, None: not sortable
    numeric: bool = False
    title: str = ""  # what an abbreviated label stands for
    narrow_hidden: bool = False  # left out while the request drawer takes half the width


COLUMNS = (
    Column("Time", "created_at"),
    Column("Status"),
    Column("Model", "model"),
    Column("Provider", narrow_hidden=True),
    Column("User", "user_id"),
    Column("Session", narrow_hidden=True),
    Column("Latency", "latency", numeric=True),
    Column("TTFT", "time_to_first_token", numeric=True, title="Time to first token", narrow_hidden=True),
    Column("Tokens in", "prompt_tokens", numeric=True, narrow_hidden=True),
    Column("Tokens out", "completion_tokens", numeric=True, narrow_hidden=True),
    Column("Cost", "cost", numeric=True),
    Column("Properties", narrow_hidden=True),
)
# Text sorts A to Z first; numbers and times largest (newest) first.
_TEXT_SORTS = ("model", "user_id")


def sort_link(state: ListState, sort: str, direction: str) -> str:
    default = sort == DEFAULT_SORT and direction == "desc"
    return query_string(
        state.params(),
        sort=None if default else sort,
        dir=None if default else direction,
        cursor=None,
        live="1" if default and state.live else None,
    )


def header_links(state: ListState) -> list[dict[str, Any]]:
    """Each column's header: its sort link (the other direction when it is the sort already) and
    ``aria-sort``."""
    headers = []
    for column in COLUMNS:
        current = column.sort is not None and column.sort == state.sort
        first = "asc" if column.sort in _TEXT_SORTS else "desc"
        direction = ("asc" if state.direction == "desc" else "desc") if current else first
        headers.append(
            {
                "column": column,
                "classes": " ".join(
                    name
                    for name, wanted in (("num", column.numeric), ("opt", column.narrow_hidden))
                    if wanted
                ),
                "aria_sort": ("ascending" if state.direction == "asc" else "descending") if current else None,
                "href": None if column.sort is None else sort_link(state, column.sort, direction),
            }
        )
    return headers


def sortable_property(key: str) -> bool:
    # The Request API sorts by property keys of letters, digits, '_' and '-' only.
    return bool(key) and key.isascii() and key.replace("-", "").replace("_", "").isalnum()


def property_sorts(state: ListState, keys: list[str]) -> list[dict[str, Any]]:
    """Sort links for every custom property (the properties column has too many to head it)."""
    found = []
    for key in keys:
        if key in SESSION_KEYS or not sortable_property(key):
            continue
        sort = PROPERTY_PREFIX + key
        found.append(
            {
                "key": key,
                "current": state.direction if state.sort == sort else None,
                "asc": sort_link(state, sort, "asc"),
                "desc": sort_link(state, sort, "desc"),
            }
        )
    return found


def _shorten(text: str) -> str:
    return text if len(text) <= _SHORT_VALUE_CHARS else text[: _SHORT_VALUE_CHARS - 1] + "\u2026"


def display_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API's rows with what the table shows besides: the session, a few properties (shortened),
    whether it was a cache hit, and its status badge's kind."""
    shown = []
    for row in rows:
        properties = row.get("properties") or {}
        others = [(key, value) for key, value in sorted(properties.items()) if key not in SESSION_KEYS]
        status = row.get("response_status")
        kind = "warn"  # pending, redirected, or unknown
        if isinstance(status, int) and 200 <= status < 300:
            kind = "ok"
        elif isinstance(status, int) and status >= 400:
            kind = "bad"
        shown.append(
            {
                **row,
                "session": properties.get(SESSION_ID),
                "short_properties": [(_shorten(k), _shorten(str(v)), f"{k}: {v}") for k, v in others][
                    :_SHORT_PROPERTIES
                ],
                "more_properties": max(0, len(others) - _SHORT_PROPERTIES),
                "cached": row.get("cache_reference_id") not in (None, ZERO_UUID),
                "status_kind": kind,
            }
        )
    return shown


def describe_sort(state: ListState) -> str:
    """The order in words, for the table's caption."""
    if state.newest_first:
        return "newest first"
    if state.sort.startswith(PROPERTY_PREFIX):
        name = f"property {state.sort[len(PROPERTY_PREFIX) :]}"
    else:
        labels = {column.sort: column.title or column.label for column in COLUMNS if column.sort}
        name = labels.get(state.sort, state.sort.replace("_", " ")).lower()
    return f"by {name}, {'ascending' if state.direction == 'asc' else 'descending'}"
