"""A session's three views over one page of its requests (oldest first, keyset-paged):

* ``tree``: the requests nested by ``Helicone-Session-Path`` (``/plan/flights`` under ``/plan``), each
  path a group spanning its requests' times (``span_tree.path_forest``, O(n));
* ``timeline``: the requests in start order as a waterfall;
* ``conversation``: each request's messages in order (``web/conversation.py``).

The tree and the timeline show a bounded part, like a trace (``span_tree.expand``): a path's hidden
requests load on demand (``node=<path>&offset=N``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request

from heliograph.api.context import app_context
from heliograph.services.errors import NotFound
from heliograph.services.members import Principal
from heliograph.services.requests import RequestQuery
from heliograph.web.conversation import conversation_of
from heliograph.web.filter_builder import SESSION_ID, SESSION_PATH
from heliograph.web.identity import url_root
from heliograph.web.span_tree import (
    ITEM,
    ROOTS,
    Forest,
    Limits,
    Scale,
    Step,
    duration_text,
    expand,
    path_forest,
    tick_labels,
)
from heliograph.web.templating import query_string

VIEWS = {"tree": "Tree", "timeline": "Timeline", "conversation": "Conversation"}
#: Requests a page of the tree or timeline lays out, and a page of the conversation shows.
LAYOUT_PAGE = 200
CONVERSATION_PAGE = 20
TREE_LIMITS = Limits(levels=32, budget=300, per_parent=100)
TIMELINE_LIMITS = Limits(levels=1, budget=LAYOUT_PAGE, per_parent=LAYOUT_PAGE)
#: The ``node`` that stands for the tree's top level.
TOP = "/"


@dataclass(frozen=True, slots=True)
class Item:
    """One request of the session, as the views show it."""

    request_id: str
    href: str
    created_at: str
    path: str
    model: str
    status: Any
    error: bool
    start_ms: int
    end_ms: int
    cost: float
    total_tokens: int


@dataclass(frozen=True, slots=True)
class Row:
    """One node of the tree or timeline: a path group or a request."""

    label: str
    depth: int
    x: str
    width: str
    offset_text: str
    duration_text: str
    item: Item | None  # None for a group
    count: int = 0  # a group's requests


def iso_ms(iso: str | None) -> int:
    """Epoch milliseconds of an API row's ISO time (0 when it has none)."""
    if not iso:
        return 0
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _item(row: dict[str, Any], root: str) -> Item:
    start = iso_ms(row["request_created_at"])
    latency = row.get("delay_ms")
    end = start + int(latency) if isinstance(latency, int | float) and latency > 0 else start
    status = row.get("response_status")
    properties = row.get("properties") or {}
    return Item(
        request_id=row["request_id"],
        href=f"{root}/ui/requests/{row['request_id']}",
        created_at=row["request_created_at"],
        path=str(properties.get(SESSION_PATH) or ""),
        model=str(row.get("model") or "unknown model"),
        status=status,
        error=not (isinstance(status, int) and 200 <= status < 300),
        start_ms=start,
        end_ms=end,
        cost=float(row.get("cost") or 0),
        total_tokens=int(row.get("total_tokens") or 0),
    )


@dataclass(frozen=True, slots=True)
class Waterfall:
    """The part of the tree or timeline one answer shows."""

    steps: list[Step]
    rows: dict[int, Row]
    scale: Scale
    more: dict[int, str]  # parent node (ROOTS too) -> the URL loading its further children

    def ticks(self) -> list[tuple[str, str, str]]:
        return tick_labels(self.scale, 1)

    def more_href(self, step: Step) -> str:
        return f"{self.more[step.node]}&offset={step.offset}"


def _rows(
    forest: Forest, labels: list[str], items: list[Item], steps: list[Step], tree: bool
) -> dict[int, Row]:
    scale = Scale.of(forest)
    # A group's requests: its subtree's nodes that are requests (nodes below len(items)).
    requests = forest.totals([1 if index < len(items) else 0 for index in range(len(forest))])
    rows: dict[int, Row] = {}
    for step in steps:
        if step.kind != ITEM:
            continue
        index = step.node
        start, end = forest.starts[index], forest.ends[index]
        bar = scale.bar(start, end)
        item = items[index] if index < len(items) else None
        # A group shows its full path ("/plan/flights" under "/plan"); a request its model in the
        # tree, its path in the timeline.
        label = labels[index] if item is None else item.model if tree else item.path or "(no path)"
        rows[index] = Row(
            label=label,
            depth=step.depth,
            x=bar.x,
            width=bar.width,
            offset_text=duration_text(start - scale.start),
            duration_text=duration_text(end - start),
            item=item,
            count=requests[index] if item is None else 0,
        )
    return rows


def _waterfall(items: list[Item], view: str, more_base: str, node: str | None, offset: int) -> Waterfall:
    starts = [item.start_ms for item in items]
    ends = [item.end_ms for item in items]
    if view == "tree":
        forest, labels = path_forest([item.path for item in items], starts, ends)
        limits = TREE_LIMITS
    else:
        forest = Forest(list(range(len(items))), [[] for _ in items], starts, ends)
        labels = [""] * len(items)
        limits = TIMELINE_LIMITS
    parent, depth = ROOTS, 0
    if node not in (None, TOP):
        position = {label: index for index, label in enumerate(labels) if label}
        if node not in position:
            raise NotFound(f"no path {node[:80]!r} among this page's requests")
        parent = position[node]
        depth = forest.depths()[parent] + 1
    steps = expand(forest, parent, offset=offset, depth=depth, limits=limits, sizes=forest.sizes())
    more = {
        step.node: more_base + query_string({"node": TOP if step.node == ROOTS else labels[step.node]})[1:]
        for step in steps
        if step.kind == "more"
    }
    return Waterfall(steps, _rows(forest, labels, items, steps, view == "tree"), Scale.of(forest), more)


def session_view(
    request: Request,
    principal: Principal,
    key: str,
    view: str,
    cursor: str | None,
    base: str,
    *,
    node: str | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    """The template context of a view of the session's page of requests after ``cursor``."""
    conversation = view == "conversation"
    query = RequestQuery(
        filter={"request_response_rmt": {"properties": {SESSION_ID: {"equals": key}}}},
        sort={"created_at": "asc"},
        limit=CONVERSATION_PAGE if conversation else LAYOUT_PAGE,
    )
    found, next_cursor = app_context(request).requests.page(
        principal.auth, query, cursor, with_bodies=conversation
    )
    if not found and cursor is None:
        raise NotFound(f"session {key[:80]!r} not found")
    root = url_root(request)
    items = [_item(row, root) for row in found]
    page_params = {"view": view, "cursor": cursor}
    context: dict[str, Any] = {
        "items": items,
        "next_link": None
        if next_cursor is None
        else base + query_string({"view": view, "cursor": next_cursor}),
        "first_link": base + query_string({"view": view}) if cursor else None,
        "wf": None,
        "conversations": [],
    }
    if conversation:
        context["conversations"] = [
            (item, conversation_of(row.get("request_body"), row.get("response_body")))
            for item, row in zip(items, found, strict=True)
        ]
    else:
        more_base = base + query_string(page_params) + "&"
        context["wf"] = _waterfall(items, view, more_base, node, offset)
    return context
