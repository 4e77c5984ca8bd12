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
from collections.abc import Iterable, Sequence
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


def remove_requests(conn: sa.Connection, organization_id: int, seqs: Sequence[int]) -> Removed:
    """Delete the organization's requests ``seqs`` (others' seqs are ignored) and all derived data."""
    removed = Removed()
    if not seqs:
        return removed
    rows = _request_rows(conn, organization_id, seqs)
    if not rows:
        return removed
    found = [row[_SEQ_AT] for row in rows]
    request_of = {row[_SEQ_AT]: row[:_SEQ_AT] for row in rows}
    _take_out_of_rollups(conn, organization_id, rows, request_of)
    ids = [row[REQUEST_COLUMNS.index("id")] for row in rows]
    removed.add(_remove_derived(conn, organization_id, ids))
    removed.spans = _remove_spans(conn, organization_id, found, rows)
    for table, name in ((request_bodies, "bodies"), (request_properties, "properties"), (scores, "scores")):
        deleted = conn.execute(table.delete().where(table.c.request_seq.in_(found))).rowcount
        setattr(removed, name, deleted)
    removed.requests = conn.execute(requests.delete().where(requests.c.seq.in_(found))).rowcount
    group_rollups.settle(conn, organization_id, [row[:_SEQ_AT] for row in rows])
    return removed


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
    return [tuple(row) for row in conn.execute(query)]


def _take_out_of_rollups(
    conn: sa.Connection, organization_id: int, rows: list[tuple[Any, ...]], request_of: dict[int, Any]
) -> None:
    plain = [row[:_SEQ_AT] for row in rows]
    request_rollups.add(conn, plain, sign=-1)
    group_rollups.add(conn, plain, sign=-1)
    request_rollups.add_countries(conn, plain, sign=-1)
    metric_sketches.add(conn, plain, sign=-1)
    found = list(request_of)
    property_rows = conn.execute(
        sa.select(*(request_properties.c[name] for name in PROPERTY_COLUMNS)).where(
            request_properties.c.request_seq.in_(found)
        )
    ).all()
    property_rollups.add(conn, [tuple(row) for row in property_rows], request_of, sign=-1)
    score_rows = conn.execute(
        sa.select(*(scores.c[name] for name in SCORE_COLUMNS)).where(scores.c.request_seq.in_(found))
    ).all()
    score_rollups.add(conn, [tuple(row) for row in score_rows], request_of, sign=-1)
    created_at = REQUEST_COLUMNS.index("created_at")
    hours = sorted({row[created_at] - row[created_at] % HOUR_MS for row in rows})
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


def _remove_spans(
    conn: sa.Connection, organization_id: int, seqs: list[int], rows: list[tuple[Any, ...]]
) -> int:
    """The requests' own spans, and every span of a trace none of whose requests remain (its tool and
    chain spans carry the same conversation)."""
    deleted = conn.execute(
        spans.delete().where(spans.c.organization_id == organization_id, spans.c.request_seq.in_(seqs))
    ).rowcount
    trace_at = REQUEST_COLUMNS.index("trace_id")
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


def _remove_derived(conn: sa.Connection, organization_id: int, ids: Iterable[uuid.UUID]) -> Removed:
    """What other features made from the requests: prompt input records tracked from them (and where
    those records were put), dataset copies of their bodies, experiment outputs and runs, and jobs."""
    ids = list(ids)
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
    return removed
