"""Traces as rows: finding an organization's traces newest first, and each trace's totals.

Spans are the only record of a trace (there is no trace table to keep in step with ingest), so a trace
is found through its *first span*: the one with the smallest ``(start_time, span_id)``. Listing walks
the spans' key (organization, start time, ...) backwards from the keyset position and keeps the spans
with no earlier span in their trace, so a page costs about as many spans as it walks, whatever the
organization's total. A trace's *root* is its earliest span without a parent, else its first span (when
the root never arrived, its children are all orphans); both are found in ``ix_spans_org_trace``, which
holds each span's parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.storage.dialect import folded_contains, folded_text
from heliograph.storage.tables import requests, span_resources, spans

STATUS_ERROR = 2  # OTLP's STATUS_CODE_ERROR


@dataclass(frozen=True, slots=True)
class TraceFilters:
    """What a listed trace must satisfy; None means no condition."""

    start_from: int | None = None  # ns, inclusive: the trace's first span starts at or after it
    start_before: int | None = None  # ns, exclusive
    root_name_contains: str | None = None  # case-insensitive, literal
    service_name: str | None = None  # the root span's service, exactly
    has_errors: bool | None = None
    # A WHERE clause over ``requests`` (request_filters.request_filter_clause): at least one of the
    # trace's LLM calls must match it.
    request_clause: sa.ColumnElement[bool] | None = None
    # Keyset position: only traces after this (start_time, trace_id) in newest-first order.
    after: tuple[int, bytes] | None = None


@dataclass(frozen=True, slots=True)
class TraceHead:
    trace_id: bytes
    start_time: int
    root_span_id: bytes
    root_name: str
    service_name: str | None


@dataclass(frozen=True, slots=True)
class TraceTotals:
    span_count: int
    end_time: int  # the latest end; 0 when no span has a valid one
    llm_call_count: int
    error_count: int
    prompt_tokens: int
    completion_tokens: int
    cost: int  # USD x 1e9


def find_traces(
    conn: sa.Connection, organization_id: int, filters: TraceFilters, *, limit: int, dialect: str
) -> list[TraceHead]:
    """Up to ``limit`` traces matching ``filters``, newest first (by first-span start, then trace id).

    Every per-trace condition is a subquery probed row by row, none a join: the walk stops after
    ``limit`` traces, but PostgreSQL, planning a join, would hash the organization's every span first
    (and, for a trace of many spans, compare each with each). Its top-level EXISTS and NOT EXISTS
    become such joins, ``EXISTS (...) IS TRUE`` / ``IS FALSE`` (the same truth: EXISTS is never null)
    do not (see request_filters._without_semijoin_pullup)."""
    first = spans.alias("first")
    root_id = sa.func.coalesce(_root_span_id(first), first.c.span_id)
    root_name = _root_value(first, root_id, spans.c.name)
    service_name = _root_value(first, root_id, span_resources.c.service_name)
    query = (
        sa.select(first.c.trace_id, first.c.start_time, root_id, root_name, service_name)
        .where(first.c.organization_id == organization_id, _is_first(first))
        .where(*_conditions(first, filters, dialect, root_name=root_name, service_name=service_name))
        .order_by(first.c.start_time.desc(), first.c.trace_id.desc())
        .limit(limit)
    )
    return [TraceHead(*row) for row in conn.execute(query)]


def _probe(condition: sa.Exists, *, holds: bool = True) -> sa.ColumnElement[bool]:
    return condition.is_(sa.true() if holds else sa.false())


def _is_first(first: sa.FromClause) -> sa.ColumnElement[bool]:
    earlier = spans.alias("earlier")
    has_earlier = sa.exists().where(
        earlier.c.organization_id == first.c.organization_id,
        earlier.c.trace_id == first.c.trace_id,
        sa.or_(
            earlier.c.start_time < first.c.start_time,
            sa.and_(earlier.c.start_time == first.c.start_time, earlier.c.span_id < first.c.span_id),
        ),
    )
    return _probe(has_earlier, holds=False)


def _root_span_id(first: sa.FromClause) -> sa.ScalarSelect[bytes]:
    candidate = spans.alias("candidate")
    return (
        sa.select(candidate.c.span_id)
        .where(
            candidate.c.organization_id == first.c.organization_id,
            candidate.c.trace_id == first.c.trace_id,
            candidate.c.parent_span_id.is_(None),
        )
        .order_by(candidate.c.start_time, candidate.c.span_id)
        .limit(1)
        # Nested in _root_value, which does not select from ``first`` itself: correlate explicitly.
        .correlate(first)
        .scalar_subquery()
    )


def _root_value(
    first: sa.FromClause, root_id: sa.ColumnElement[bytes], column: sa.ColumnElement[Any]
) -> sa.ScalarSelect[Any]:
    """``column`` of the trace's root span (a ``spans`` or ``span_resources`` column)."""
    return (
        sa.select(column)
        .select_from(spans.outerjoin(span_resources, span_resources.c.id == spans.c.resource_id))
        .where(
            spans.c.organization_id == first.c.organization_id,
            spans.c.trace_id == first.c.trace_id,
            spans.c.span_id == root_id,
        )
        # The same span id twice in a trace (re-sent with another start time: two rows under the
        # time-ordered key) must still give one value.
        .order_by(spans.c.start_time)
        .limit(1)
        .scalar_subquery()
    )


def _conditions(
    first: sa.FromClause,
    filters: TraceFilters,
    dialect: str,
    *,
    root_name: sa.ColumnElement[str],
    service_name: sa.ColumnElement[str | None],
) -> list[sa.ColumnElement[bool]]:
    out: list[sa.ColumnElement[bool]] = []
    start = first.c.start_time
    if filters.start_from is not None:
        out.append(start >= filters.start_from)
    if filters.start_before is not None:
        out.append(start < filters.start_before)
    if filters.after is not None:
        after_start, after_trace = filters.after
        # The plain bound lets the index range stop at the position; the OR breaks ties by trace id.
        out.append(start <= after_start)
        out.append(sa.or_(start < after_start, sa.and_(start == after_start, first.c.trace_id < after_trace)))
    if filters.root_name_contains is not None:
        out.append(folded_contains(folded_text(root_name, dialect), filters.root_name_contains, dialect))
    if filters.service_name is not None:
        out.append(service_name == filters.service_name)
    if filters.has_errors is not None:
        failing = spans.alias("failing")
        has_errors = sa.exists().where(
            failing.c.organization_id == first.c.organization_id,
            failing.c.trace_id == first.c.trace_id,
            failing.c.status_code == STATUS_ERROR,
        )
        out.append(_probe(has_errors, holds=filters.has_errors))
    if filters.request_clause is not None:
        out.append(_probe(_has_matching_request(first, filters.request_clause)))
    return out


def _has_matching_request(first: sa.FromClause, clause: sa.ColumnElement[bool]) -> sa.Exists:
    """Some LLM span of the trace has a request row matching ``clause``. The clause is over the plain
    ``requests`` table (its own subqueries correlate to it), so it is not aliased here."""
    llm = spans.alias("llm")
    return sa.exists().where(
        llm.c.organization_id == first.c.organization_id,
        llm.c.trace_id == first.c.trace_id,
        llm.c.request_seq.is_not(None),
        requests.c.seq == llm.c.request_seq,
        requests.c.organization_id == first.c.organization_id,
        clause,
    )


def trace_totals(
    conn: sa.Connection, organization_id: int, trace_ids: Sequence[bytes]
) -> dict[bytes, TraceTotals]:
    """Counts, tokens and cost of each trace in ``trace_ids`` (absent when it has no span)."""
    if not trace_ids:
        return {}
    failed = sa.case((spans.c.status_code == STATUS_ERROR, 1), else_=0)
    query = (
        sa.select(
            spans.c.trace_id,
            sa.func.count(),
            sa.func.max(spans.c.end_time),
            sa.func.count(requests.c.seq),
            sa.func.sum(failed),
            sa.func.sum(requests.c.prompt_tokens),
            sa.func.sum(requests.c.completion_tokens),
            sa.func.sum(requests.c.cost),
        )
        .select_from(spans)
        .outerjoin(
            requests,
            sa.and_(
                requests.c.seq == spans.c.request_seq,
                requests.c.organization_id == spans.c.organization_id,
            ),
        )
        .where(spans.c.organization_id == organization_id, spans.c.trace_id.in_(list(trace_ids)))
        .group_by(spans.c.trace_id)
    )
    # PostgreSQL sums BIGINTs as NUMERIC (Decimal); a sum over no rows is NULL.
    return {row[0]: TraceTotals(*(int(value or 0) for value in row[1:])) for row in conn.execute(query)}
