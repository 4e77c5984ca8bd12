"""The trace page (``/ui/traces/{traceId}``): a trace's summary and its span tree as a waterfall.

The page reads the trace's outline only (``TraceService.outline``: no attributes), lays out a bounded
part of the tree (``span_tree.expand``) and loads the rest on demand: a span's attributes and events
(``/spans/{spanId}``) when its row is opened, a node's hidden children (``/children/{spanId}``) when
"show more" is followed. Both are htmx fragments and, without JavaScript, plain pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from heliograph.api.context import app_context
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.traces import TraceOutline
from heliograph.storage.span_repo import SpanOutlineRow
from heliograph.web.identity import Reader, url_root
from heliograph.web.routing import UiRoute
from heliograph.web.span_tree import (
    ITEM,
    ROOTS,
    Forest,
    Limits,
    Scale,
    Step,
    duration_text,
    expand,
    tick_labels,
)
from heliograph.web.templating import render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
_SPAN_ID = re.compile(r"[0-9a-fA-F]{16}")
#: The ``spanId`` of ``/children/{spanId}`` that stands for the trace's roots.
ROOTS_ID = "roots"
#: The trace page shows the roots and three levels below them, at most 200 spans.
LIMITS = Limits(levels=4, budget=200, per_parent=100)
_NANOS_PER_MS = 1_000_000
_MAX_OFFSET = 10**9


def trace_bytes(text: str) -> bytes:
    if _TRACE_ID.fullmatch(text) is None:
        raise InvalidInput(f"a trace id is 32 hex digits, not {text[:40]!r}")
    return bytes.fromhex(text)


def span_bytes(text: str) -> bytes:
    if _SPAN_ID.fullmatch(text) is None:
        raise InvalidInput(f"a span id is 16 hex digits, not {text[:40]!r}")
    return bytes.fromhex(text)


@dataclass(frozen=True, slots=True)
class SpanRow:
    """What the waterfall shows of one span."""

    span_id: str
    name: str
    kind: str
    error: bool
    status_message: str | None
    offset_text: str
    duration_text: str
    x: str
    width: str
    request_id: str | None
    orphan: bool
    depth: int


@dataclass(frozen=True, slots=True)
class Layout:
    """The part of a trace one answer shows: the steps, a row per shown span, the axis."""

    trace_id: str
    steps: list[Step]
    rows: dict[int, SpanRow]
    scale: Scale
    outline: TraceOutline

    def more_href(self, root: str, step: Step) -> str:
        owner = ROOTS_ID if step.node == ROOTS else self.outline.rows[step.node].span_id.hex()
        return f"{root}/ui/traces/{self.trace_id}/children/{owner}?offset={step.offset}"

    def ticks(self) -> list[tuple[str, str, str]]:
        return tick_labels(self.scale, _NANOS_PER_MS)

    @property
    def shown(self) -> int:
        return len(self.rows)


def forest_of(outline: TraceOutline) -> Forest:
    starts = [row.start_time for row in outline.rows]
    # A span without a valid end is drawn as an instant.
    ends = [row.end_time if row.end_time >= row.start_time else row.start_time for row in outline.rows]
    return Forest(outline.roots, outline.children, starts, ends)


def _span_row(outline: TraceOutline, index: int, depth: int, scale: Scale) -> SpanRow:
    row: SpanOutlineRow = outline.rows[index]
    known_end = row.end_time > 0 and row.end_time >= row.start_time
    bar = scale.bar(row.start_time, row.end_time if known_end else row.start_time)
    return SpanRow(
        span_id=row.span_id.hex(),
        name=row.name,
        kind=outline.kind_name(row.kind),
        error=outline.status_name(row.status_code) == "ERROR",
        status_message=row.status_message,
        offset_text=duration_text((row.start_time - scale.start) / _NANOS_PER_MS),
        duration_text=duration_text((row.end_time - row.start_time) / _NANOS_PER_MS if known_end else None),
        x=bar.x,
        width=bar.width,
        request_id=None if row.request_id is None else str(row.request_id),
        orphan=outline.orphans[index],
        depth=depth,
    )


def layout(trace_id: str, outline: TraceOutline, parent: int, offset: int, limits: Limits = LIMITS) -> Layout:
    """The steps showing ``parent`` 's children (the roots for ``ROOTS``) from ``offset`` on."""
    forest = forest_of(outline)
    depths = forest.depths()
    depth = 0 if parent == ROOTS else depths[parent] + 1
    steps = expand(forest, parent, offset=offset, depth=depth, limits=limits, sizes=forest.sizes())
    scale = Scale.of(forest)
    rows = {
        step.node: _span_row(outline, step.node, step.depth, scale) for step in steps if step.kind == ITEM
    }
    return Layout(trace_id, steps, rows, scale, outline)


@router.get("/traces/{trace_id}")
def trace_page(request: Request, principal: Reader, trace_id: str) -> Response:
    key = trace_bytes(trace_id)
    outline = app_context(request).traces.outline(principal.auth, key)
    shown = layout(key.hex(), outline, ROOTS, 0)
    return render(
        request,
        "traces/page.html",
        trace=outline.trace,
        wf=shown,
        shown=shown.shown,
        more_href=lambda step: shown.more_href(url_root(request), step),
    )


@router.get("/traces/{trace_id}/children/{span_id}")
def trace_children(
    request: Request,
    principal: Reader,
    trace_id: str,
    span_id: str,
    offset: int = Query(0, ge=0, le=_MAX_OFFSET),
) -> Response:
    """The children of a span (or of the trace's roots, ``roots``) from ``offset`` on, with what lies
    below them within the page's limits: the ``<li>`` items a "show more" control is replaced with,
    or without JavaScript a page showing them."""
    key = trace_bytes(trace_id)
    outline = app_context(request).traces.outline(principal.auth, key)
    if span_id == ROOTS_ID:
        parent = ROOTS
    else:
        found = outline.index_of(span_bytes(span_id))
        if found is None:
            raise NotFound(f"span {span_id} not found in trace {key.hex()}")
        parent = found
    shown = layout(key.hex(), outline, parent, offset)
    owner = None if parent == ROOTS else outline.rows[parent]
    return render(
        request,
        "traces/children.html",
        partial="traces/_children.html",
        trace=outline.trace,
        wf=shown,
        owner=owner,
        more_href=lambda step: shown.more_href(url_root(request), step),
    )


@router.get("/traces/{trace_id}/spans/{span_id}")
def span_details(request: Request, principal: Reader, trace_id: str, span_id: str) -> Response:
    """A span's attributes, events, links and resource: the fragment a row's ``<details>`` loads
    when opened, or without JavaScript the span's own page."""
    key = trace_bytes(trace_id)
    span = app_context(request).traces.span(principal.auth, key, span_bytes(span_id))
    return render(
        request,
        "traces/span.html",
        partial="traces/_span.html",
        span=span,
        trace_id=key.hex(),
        duration=duration_text(span["duration_ms"]),
    )
