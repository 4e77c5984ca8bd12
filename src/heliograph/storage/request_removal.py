"""Removing requests and everything derived from them (erasure and retention), and expiring bodies.

A request's data is spread over many tables: its row, its compressed bodies (which also hold its LLM
span's attributes), properties, scores, spans, the pre-aggregated statistics it was added to, the
prompt input record tracked from it, dataset copies of its bodies, experiment outputs and runs it
produced, and jobs queued about it. :func:`remove_requests` takes all of that out in the caller's
transaction, so a reader sees the request either whole or gone: the rollups are decremented by exactly
what the writer added (the same functions with ``sign=-1``), and the session and user rollups, whose
first and last times cannot be subtracted, are recomputed for the hours and days touched.

Callers pass small batches of seqs (a few hundred): each batch is one short transaction, so on SQLite
the batching writer waits at most that long for the write lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa

from heliograph.storage import (
    group_rollups,
    metric_sketches,
    property_rollups,
    request_rollups,
    score_rollups,
)
from heliograph.storage import tables as stored
from heliograph.storage.batch_rows import PROPERTY_COLUMNS, REQUEST_COLUMNS, SCORE_COLUMNS
from heliograph.storage.dataset_tables import dataset_input_records, dataset_rows
from heliograph.storage.evaluation_tables import jobs
from heliograph.storage.experiment_tables import experiment_outputs
from heliograph.storage.table_experiment_tables import experiment_table_cells, table_experiment_runs
from heliograph.storage.tables import (
    prompt_inputs,
    request_bodies,
    request_properties,
    requests,
    scores,
    session_tags,
    spans,
)
from heliograph.storage.time_buckets import HOUR_MS
from heliograph.storage.webhook_tables import webhook_deliveries

_SEQ_AT = len(REQUEST_COLUMNS)
# (trace id, span id) pairs and seqs per span DELETE: 3 bound values each, far below SQLite's limit.
_SPANS_PER_STATEMENT = 1000


@dataclass(slots=True)
class Removed:
    """How many rows of each kind a removal deleted (the API answers these, camel-cased)."""

    requests: int = 0
    bodies: int = 0
    properties: int = 0
    scores: int = 0
    spans: int = 0
    prompt_inputs: int = 0
    dataset_rows: int = 0
    experiment_outputs: int = 0
    experiment_runs: int = 0
    session_tags: int = 0
    jobs: int = 0
    webhook_deliveries: int = 0

    def add(self, other: Removed) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict[str, int]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


def remove_requests(
    conn: sa.Connection, organization_id: int, seqs: Sequence[int], *, keep_curated: bool = False
) -> Removed:
    """Delete the organization's requests ``seqs`` (others' seqs are ignored) and all derived data.

    With ``keep_curated`` (retention), what people built from the requests stays: prompt input records,
    dataset rows and experiment outputs; an erasure removes those too."""
    removed = Removed()
    if not seqs:
        return removed
    rows = _request_rows(conn, organization_id, seqs)
    if not rows:
        return removed
    found = [row[_SEQ_AT] for row in rows]
    request_of = {row[_SEQ_AT]: row[:_SEQ_AT] for row in rows}
    plain = [row[:_SEQ_AT] for row in rows]
    ids = [row[REQUEST_COLUMNS.index("id")] for row in rows]
    removed.add(_remove_derived(conn, organization_id, ids, keep_curated=keep_curated))
    removed.spans = _remove_spans(conn, organization_id, found, rows)
    # The children are subtracted as their DELETE returns them: a score or property written meanwhile by
    # another transaction is either deleted and subtracted here, or was never counted.
    properties = _delete_returning(conn, request_properties, PROPERTY_COLUMNS, found)
    property_rollups.add(conn, properties, request_of, sign=-1)
    score_rows = _delete_returning(conn, scores, SCORE_COLUMNS, found)
    score_rollups.add(conn, score_rows, request_of, sign=-1)
    removed.properties, removed.scores = len(properties), len(score_rows)
    removed.bodies = conn.execute(
        request_bodies.delete().where(request_bodies.c.request_seq.in_(found))
    ).rowcount
    removed.requests = conn.execute(requests.delete().where(requests.c.seq.in_(found))).rowcount
    _take_out_of_rollups(conn, organization_id, plain)
    return removed


def _delete_returning(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], seqs: list[int]
) -> list[tuple[Any, ...]]:
    query = (
        table.delete().where(table.c.request_seq.in_(seqs)).returning(*(table.c[name] for name in columns))
    )
    return [tuple(row) for row in conn.execute(query)]


def remove_bodies(conn: sa.Connection, seqs: Sequence[int]) -> int:
    """Expire the bodies (and LLM span attributes, which live with them) of requests ``seqs``; the
    request rows, and so every metric, stay."""
    if not seqs:
        return 0
    return conn.execute(request_bodies.delete().where(request_bodies.c.request_seq.in_(list(seqs)))).rowcount


def remove_session_tags(conn: sa.Connection, organization_id: int, session_id: str) -> int:
    """A session's tags (kept per session, not per request): erased with the session."""
    return conn.execute(
        session_tags.delete().where(
            session_tags.c.organization_id == organization_id, session_tags.c.session_id == session_id
        )
    ).rowcount


def _request_rows(conn: sa.Connection, organization_id: int, seqs: Sequence[int]) -> list[tuple[Any, ...]]:
    """The request rows in the writer's encoding (``REQUEST_COLUMNS``) followed by their seq."""
    columns = [requests.c[name] for name in REQUEST_COLUMNS] + [requests.c.seq]
    query = sa.select(*columns).where(
        requests.c.organization_id == organization_id, requests.c.seq.in_(list(seqs))
    )
    # Locked: a second deletion of the same requests (two erasures, an erasure and the sweep) waits, then
    # finds them gone, instead of subtracting them from the rollups again. (SQLite's write transaction
    # already runs alone; SQLAlchemy leaves FOR UPDATE out there.)
    return [tuple(row) for row in conn.execute(query.with_for_update())]


def _take_out_of_rollups(conn: sa.Connection, organization_id: int, plain: list[tuple[Any, ...]]) -> None:
    """Take the deleted request rows out of the rollups they were added to, and drop the keys left empty."""
    request_rollups.add(conn, plain, sign=-1)
    request_rollups.add_countries(conn, plain, sign=-1)
    metric_sketches.add(conn, plain, sign=-1)
    group_rollups.add(conn, plain, sign=-1)
    created_at = REQUEST_COLUMNS.index("created_at")
    hours = sorted({row[created_at] - row[created_at] % HOUR_MS for row in plain})
    # A key whose requests are all gone would otherwise stay as a row of zeros (or a zero count).
    for table, count in (
        (stored.request_rollups, stored.request_rollups.c.requests),
        (stored.country_rollups, stored.country_rollups.c.requests),
        (stored.metric_sketches, stored.metric_sketches.c["count"]),
        (stored.property_rollups, stored.property_rollups.c.requests),
        (stored.score_rollups, stored.score_rollups.c["count"]),
    ):
        conn.execute(
            table.delete().where(
                table.c.organization_id == organization_id, table.c.hour.in_(hours), count <= 0
            )
        )
    group_rollups.settle(conn, organization_id, plain)


def _remove_spans(
    conn: sa.Connection, organization_id: int, seqs: list[int], rows: list[tuple[Any, ...]]
) -> int:
    """The requests' own spans, and every span of a trace none of whose requests remain (its tool and
    chain spans carry the same conversation)."""
    # By (trace id, span id), which the trace index finds; ``request_seq`` has no index of its own.
    trace_at, span_at = REQUEST_COLUMNS.index("trace_id"), REQUEST_COLUMNS.index("span_id")
    own = [row for row in rows if row[trace_at] is not None and row[span_at] is not None]
    deleted = 0
    for start in range(0, len(own), _SPANS_PER_STATEMENT):
        chunk = own[start : start + _SPANS_PER_STATEMENT]
        deleted += conn.execute(
            spans.delete().where(
                spans.c.organization_id == organization_id,
                sa.tuple_(spans.c.trace_id, spans.c.span_id).in_(
                    [(row[trace_at], row[span_at]) for row in chunk]
                ),
                spans.c.request_seq.in_([row[_SEQ_AT] for row in chunk]),
            )
        ).rowcount
    traces = sorted({row[trace_at] for row in rows if row[trace_at] is not None})
    if not traces:
        return deleted
    kept = set(
        conn.execute(
            sa.select(requests.c.trace_id)
            .where(
                requests.c.organization_id == organization_id,
                requests.c.trace_id.in_(traces),
                requests.c.seq.not_in(seqs),
            )
            .distinct()
        ).scalars()
    )
    orphaned = [trace for trace in traces if trace not in kept]
    if orphaned:
        deleted += conn.execute(
            spans.delete().where(spans.c.organization_id == organization_id, spans.c.trace_id.in_(orphaned))
        ).rowcount
    return deleted


def _remove_derived(
    conn: sa.Connection, organization_id: int, ids: list[uuid.UUID], *, keep_curated: bool
) -> Removed:
    """Jobs queued about the requests and their webhook deliveries; unless ``keep_curated``, also what
    other features made from them: prompt input records tracked from them (and where those records were
    put), dataset copies of their bodies, experiment outputs and runs."""
    removed = Removed()
    subjects = [str(request_id) for request_id in ids]
    removed.jobs = conn.execute(
        jobs.delete().where(jobs.c.organization_id == organization_id, jobs.c.subject.in_(subjects))
    ).rowcount
    deliveries = webhook_deliveries.c
    removed.webhook_deliveries = conn.execute(
        webhook_deliveries.delete().where(
            deliveries.organization_id == organization_id, deliveries.request_id.in_(subjects)
        )
    ).rowcount
    if not keep_curated:
        removed.add(_remove_curated(conn, organization_id, ids))
    return removed


def _remove_curated(conn: sa.Connection, organization_id: int, ids: list[uuid.UUID]) -> Removed:
    removed = Removed()
    records = list(
        conn.execute(
            sa.select(prompt_inputs.c.id).where(
                prompt_inputs.c.organization_id == organization_id, prompt_inputs.c.request_id.in_(ids)
            )
        ).scalars()
    )
    if records:
        conn.execute(
            dataset_input_records.delete().where(
                dataset_input_records.c.organization_id == organization_id,
                dataset_input_records.c.input_record_id.in_(records),
            )
        )
        removed.prompt_inputs = conn.execute(
            prompt_inputs.delete().where(prompt_inputs.c.id.in_(records))
        ).rowcount
    removed.dataset_rows = conn.execute(
        dataset_rows.delete().where(
            dataset_rows.c.organization_id == organization_id, dataset_rows.c.origin_request_id.in_(ids)
        )
    ).rowcount
    outputs = experiment_outputs.c
    of_records = outputs.input_record_id.in_(records) if records else sa.false()
    removed.experiment_outputs = conn.execute(
        experiment_outputs.delete().where(
            outputs.organization_id == organization_id, sa.or_(outputs.request_id.in_(ids), of_records)
        )
    ).rowcount
    runs = table_experiment_runs.c
    run_records = runs.input_record_id.in_(records) if records else sa.false()
    removed.experiment_runs = conn.execute(
        table_experiment_runs.delete().where(
            runs.organization_id == organization_id, sa.or_(runs.request_id.in_(ids), run_records)
        )
    ).rowcount
    cells = experiment_table_cells.c
    conn.execute(
        experiment_table_cells.update()
        .where(cells.organization_id == organization_id, cells.request_id.in_(ids))
        .values(request_id=None, value=None)
    )
    return removed


def remove_spans(conn: sa.Connection, organization_id: int, keys: Sequence[tuple[bytes, bytes]]) -> int:
    """Delete spans by (trace id, span id): retention's spans that belong to no request."""
    if not keys:
        return 0
    s = spans.c
    where = sa.tuple_(s.trace_id, s.span_id).in_(list(keys))
    return conn.execute(spans.delete().where(s.organization_id == organization_id, where)).rowcount


def strip_spans(conn: sa.Connection, organization_id: int, keys: Sequence[tuple[bytes, bytes]]) -> int:
    """Expire what spans say (attributes and events, where tool and agent spans carry the conversation);
    their names, times, status and place in the trace stay."""
    if not keys:
        return 0
    s = spans.c
    where = sa.tuple_(s.trace_id, s.span_id).in_(list(keys))
    query = (
        spans.update().where(s.organization_id == organization_id, where).values(attributes=None, extra=None)
    )
    return conn.execute(query).rowcount
