"""Trace read-back: one trace as its span tree, and traces listed newest first with their totals.

Helicone gives every span a random id and drops its parent, so a trace comes back flat; Heliograph
stores the tree (see storage/span_repo.py) and answers it as one.

Trees are built without recursion: a trace may be a chain of tens of thousands of spans, far past
Python's recursion limit. Stored parent links are taken as they are, so they may be wrong in two ways,
both answered with the span as a root flagged ``orphan``: the parent is not in the trace (not received,
or never sent), or following parents runs in a circle (the circle is cut at its earliest span).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from heliograph.ingest.otlp_json import SPAN_KIND_NAMES, STATUS_CODE_NAMES
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.keys import AuthContext
from heliograph.services.request_view import iso_ms
from heliograph.storage import span_repo, trace_repo
from heliograph.storage.request_filters import FilterError, request_filter_clause
from heliograph.storage.span_repo import StoredSpan, trace_spans
from heliograph.storage.trace_repo import TraceFilters, TraceHead, TraceTotals

_KIND_NAMES = {code: name for name, code in SPAN_KIND_NAMES.items() if not name.startswith("SPAN_KIND_")}
_STATUS_NAMES = {code: name for name, code in STATUS_CODE_NAMES.items() if not name.startswith("STATUS_")}
_INT64_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"([0-9]{1,19})\.([0-9a-f]{32})")
_NO_TOTALS = TraceTotals(0, 0, 0, 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class TraceQuery:
    start: datetime | None = None  # the trace's first span starts at or after it
    end: datetime | None = None  # ... and before it
    root_name_contains: str | None = None
    service_name: str | None = None
    has_errors: bool | None = None
    request_filter: Any = None  # a Request API filter tree; None or "all" for no condition
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class TraceTree:
    """A trace's summary and its spans' views (without children), linked by index: ``roots`` and each
    span's ``children`` in start order. The edge renders it nested or flat."""

    trace: dict[str, Any]
    spans: list[dict[str, Any]]
    children: list[list[int]]
    roots: list[int]

    def preorder(self) -> Iterator[tuple[int, int]]:
        """``(index, depth)`` of every span, each followed by its subtree (depth first, in start
        order); roots have depth 0."""
        stack = [(root, 0) for root in reversed(self.roots)]
        while stack:
            index, depth = stack.pop()
            yield index, depth
            stack.extend((child, depth + 1) for child in reversed(self.children[index]))


class TraceService:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    def get(self, auth: AuthContext, trace_id: bytes) -> TraceTree:
        with self._engine.connect() as conn:
            stored = trace_spans(conn, auth.organization_id, trace_id)
            if not stored:
                raise NotFound(f"trace {trace_id.hex()} not found")
            totals = trace_repo.trace_totals(conn, auth.organization_id, [trace_id])
        stored.sort(key=lambda span: (span.start_time, span.span_id))
        roots, children, orphans = _link(stored)
        root = next((span for span in stored if span.parent_span_id is None), stored[0])
        head = TraceHead(trace_id, stored[0].start_time, root.span_id, root.name, root.service_name)
        views = [_span_view(span, orphan) for span, orphan in zip(stored, orphans, strict=True)]
        tree = TraceTree(_trace_view(head, totals.get(trace_id, _NO_TOTALS)), views, children, roots)
        for index, depth in tree.preorder():
            views[index]["depth"] = depth
        return tree

    def query(self, auth: AuthContext, query: TraceQuery) -> dict[str, Any]:
        start_from = None if query.start is None else _nanos(query.start)
        start_before = None if query.end is None else _nanos(query.end)
        filters = TraceFilters(
            start_from=None if start_from is None else min(start_from, _INT64_MAX),
            start_before=None if start_before is None or start_before > _INT64_MAX else start_before,
            root_name_contains=_text(query.root_name_contains, "rootNameContains"),
            service_name=_text(query.service_name, "serviceName"),
            has_errors=query.has_errors,
            request_clause=self._request_clause(query.request_filter),
            after=None if query.cursor is None else decode_cursor(query.cursor),
        )
        if start_from is not None and start_from > _INT64_MAX:
            return {"traces": [], "nextCursor": None}  # after the last time a span can carry
        with self._engine.connect() as conn:
            found = trace_repo.find_traces(
                conn, auth.organization_id, filters, limit=query.limit + 1, dialect=self._dialect
            )
            page = found[: query.limit]
            totals = trace_repo.trace_totals(conn, auth.organization_id, [head.trace_id for head in page])
        more = len(found) > query.limit
        return {
            "traces": [_trace_view(head, totals.get(head.trace_id, _NO_TOTALS)) for head in page],
            "nextCursor": encode_cursor(page[-1]) if more else None,
        }

    def _request_clause(self, node: Any) -> sa.ColumnElement[bool] | None:
        if node is None or node == "all":
            return None
        try:
            return request_filter_clause(node, dialect=self._dialect)
        except FilterError as exc:
            raise InvalidInput(f"requestFilter: {exc}") from exc

    # --- for the web UI: the tree without the spans' contents, and one span whole ------------------

    def outline(self, auth: AuthContext, trace_id: bytes) -> TraceOutline:
        """The trace's summary and its tree (as ``get`` links it), without reading attributes, events
        or resources: a page shows a few hundred spans of a trace that may hold tens of thousands."""
        with self._engine.connect() as conn:
            rows = span_repo.trace_outline(conn, auth.organization_id, trace_id)
            if not rows:
                raise NotFound(f"trace {trace_id.hex()} not found")
            totals = trace_repo.trace_totals(conn, auth.organization_id, [trace_id])
            root = next((row for row in rows if row.parent_span_id is None), rows[0])
            service = span_repo.service_name_of(conn, auth.organization_id, root.resource_id)
        roots, children, orphans = _link(rows)
        head = TraceHead(trace_id, rows[0].start_time, root.span_id, root.name, service)
        return TraceOutline(
            _trace_view(head, totals.get(trace_id, _NO_TOTALS)), rows, children, roots, orphans
        )

    def span(self, auth: AuthContext, trace_id: bytes, span_id: bytes) -> dict[str, Any]:
        """One span's view, as ``get`` gives it (its ``depth`` and ``orphan`` flag left unknown: they
        need the whole trace)."""
        with self._engine.connect() as conn:
            found = span_repo.one_span(conn, auth.organization_id, trace_id, span_id)
        if found is None:
            raise NotFound(f"span {span_id.hex()} not found in trace {trace_id.hex()}")
        return _span_view(found, False)


def _text(value: str | None, field: str) -> str | None:
    # PostgreSQL text cannot hold NUL, and ingest drops it from every stored name: one answer on both.
    if value is not None and "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters")
    return value


def _nanos(moment: datetime) -> int:
    """Epoch nanoseconds of ``moment`` (UTC when it has no offset); 0 for earlier moments."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    nanos = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    return max(nanos, 0)


def encode_cursor(head: TraceHead) -> str:
    """The keyset position after ``head``: opaque to clients, which only hand it back."""
    text = f"{head.start_time}.{head.trace_id.hex()}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, bytes]:
    refused = InvalidInput("cursor is not one this server gave out: pass the nextCursor of a previous page")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise refused from None
    match = _CURSOR.fullmatch(text)
    if match is None or int(match[1]) > _INT64_MAX:
        raise refused
    return int(match[1]), bytes.fromhex(match[2])


def _link(ordered: Sequence[_Linked]) -> tuple[list[int], list[list[int]], list[bool]]:
    """Roots, children lists and orphan flags of spans sorted by start (indexes into ``ordered``)."""
    position = {span.span_id: index for index, span in enumerate(ordered)}
    parent = [-1] * len(ordered)
    children: list[list[int]] = [[] for _ in ordered]
    for index, span in enumerate(ordered):
        found = position.get(span.parent_span_id) if span.parent_span_id is not None else None
        if found is not None and found != index:
            parent[index] = found
            children[found].append(index)
    orphans = [parent[index] < 0 and span.parent_span_id is not None for index, span in enumerate(ordered)]
    roots = [index for index in range(len(ordered)) if parent[index] < 0]
    reached = [False] * len(ordered)
    for root in roots:
        _reach(root, children, reached)
    for index in range(len(ordered)):
        if reached[index]:
            continue
        # Not below any root: following parents from here runs in a circle. Cut it at its earliest span.
        cut = min(_circle(index, parent))
        children[parent[cut]].remove(cut)
        parent[cut] = -1
        orphans[cut] = True
        roots.append(cut)
        _reach(cut, children, reached)
    roots.sort()
    return roots, children, orphans


def _reach(start: int, children: list[list[int]], reached: list[bool]) -> None:
    stack = [start]
    while stack:
        index = stack.pop()
        reached[index] = True
        stack.extend(children[index])


def _circle(start: int, parent: list[int]) -> list[int]:
    path: dict[int, int] = {}
    index = start
    while index not in path:
        path[index] = len(path)
        index = parent[index]
    return list(path)[path[index] :]


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    # The spans of a trace mostly share their seconds; formatting a datetime is most of a span's view.
    return str(iso_ms(second * 1000)).removesuffix(".000Z")


def _iso(nanos: int) -> str:
    """ISO 8601 with milliseconds, like the Request API's times."""
    millis = nanos // 1_000_000
    return f"{_iso_second(millis // 1000)}.{millis % 1000:03d}Z"


def _times(start: int, end: int) -> dict[str, Any]:
    """Start and end as ISO text (ms) and as OTLP's decimal-string nanoseconds (exact beyond 2**53,
    where JSON numbers lose digits in JavaScript). An end of 0 was missing or invalid."""
    known = end > 0
    return {
        "start_time": _iso(start),
        "start_time_unix_nano": str(start),
        "end_time": _iso(end) if known else None,
        "end_time_unix_nano": str(end) if known else None,
        "duration_ms": (end - start) / 1e6 if known and end >= start else None,
    }


def _trace_view(head: TraceHead, totals: TraceTotals) -> dict[str, Any]:
    return {
        "trace_id": head.trace_id.hex(),
        "root_span_id": head.root_span_id.hex(),
        "root_name": head.root_name,
        "service_name": head.service_name,
        **_times(head.start_time, totals.end_time),
        "span_count": totals.span_count,
        "llm_call_count": totals.llm_call_count,
        "error_count": totals.error_count,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "total_tokens": totals.prompt_tokens + totals.completion_tokens,
        "cost": totals.cost / 1e9,
    }


def _span_view(span: StoredSpan, orphan: bool) -> dict[str, Any]:
    extra = dict(span.extra or {})
    events = extra.pop("events", [])
    links = extra.pop("links", [])
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": None if span.parent_span_id is None else span.parent_span_id.hex(),
        "name": span.name,
        "kind": _KIND_NAMES.get(span.kind, "UNSPECIFIED"),
        **_times(span.start_time, span.end_time),
        "status": {"code": _STATUS_NAMES.get(span.status_code, "UNSET"), "message": span.status_message},
        "attributes": span.attributes,
        "events": events,
        "links": links,
        "resource": span.resource,
        "scope": span.scope,
        "service_name": span.service_name,
        "request_id": None if span.request_id is None else str(span.request_id),
        "orphan": orphan,
        "depth": 0,
        "extra": extra,
    }


# --- for the web UI ------------------------------------------------------------------------------


class _Linked(Protocol):
    """What linking spans into a tree reads of each: a whole stored span or its outline."""

    @property
    def span_id(self) -> bytes: ...

    @property
    def parent_span_id(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class TraceOutline:
    """A trace's summary and its spans' outlines (``span_repo.SpanOutlineRow``, in start order) linked
    by index like ``TraceTree``: ``roots`` and each span's ``children`` in start order."""

    trace: dict[str, Any]
    rows: list[span_repo.SpanOutlineRow]
    children: list[list[int]]
    roots: list[int]
    orphans: list[bool]

    def index_of(self, span_id: bytes) -> int | None:
        return next((index for index, row in enumerate(self.rows) if row.span_id == span_id), None)

    @staticmethod
    def kind_name(kind: int) -> str:
        return _KIND_NAMES.get(kind, "UNSPECIFIED")

    @staticmethod
    def status_name(code: int) -> str:
        return _STATUS_NAMES.get(code, "UNSET")
