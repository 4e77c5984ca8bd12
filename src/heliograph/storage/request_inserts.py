"""Inserting request rows and learning the ``seq`` of each row actually inserted.

Child rows (bodies, properties, scores, spans) point at ``requests.seq``, and only requests this write
inserted get children: an id that the organization already stored keeps its first version whole. Ids
are unique per organization (``uq_requests_organization_id_id``), so another organization's request
with the same id never blocks an insert. The two dialects learn the seqs differently, because of how
their drivers hold Python's GIL:

- PostgreSQL: ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` — psycopg fetches the whole result in one
  call, releasing the GIL once.
- SQLite: the sqlite3 module releases and re-takes the GIL at every statement step, and each RETURNING
  row is a step; under load every re-take waits behind the thread decoding the next request. So the
  writer assigns seqs itself (max + 1, ...), after one query per organization for the ids it already
  stored, and inserts with explicit seqs: a handful of steps per transaction whatever its size. The
  insert does not ignore conflicts, so a second process writing the same file at the same moment
  makes the transaction fail (and be retried by its client) instead of losing rows.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import sqlalchemy as sa

from heliograph.storage.batch_rows import REQUEST_COLUMNS, PreparedBatch
from heliograph.storage.bulk_insert import BulkInsert
from heliograph.storage.tables import requests

Seqs = dict[tuple[int, uuid.UUID], int]
# Bound parameters per IN list: well under SQLite's limit of 32,766 variables.
_ID_CHUNK = 4096
# Positions of the id and the organization in a request row (see batch_rows.REQUEST_COLUMNS).
_ID = REQUEST_COLUMNS.index("id")
_ORG = REQUEST_COLUMNS.index("organization_id")


class RequestInserter:
    """Inserts the request rows of a prepared batch; returns the seq of every (org, id) inserted."""

    def __init__(self, dialect: str) -> None:
        self._sqlite = dialect == "sqlite"
        if self._sqlite:
            # The writer rolls its whole transaction back when this raises.
            self._insert = BulkInsert(
                requests,
                (*REQUEST_COLUMNS, "seq"),
                dialect,
                ignore_conflicts=False,
                rolled_back_on_error=True,
            )
        else:
            self._insert = BulkInsert(
                requests, REQUEST_COLUMNS, dialect, returning=("id", "organization_id", "seq")
            )

    def run(self, conn: sa.Connection, prepared: PreparedBatch) -> Seqs:
        if not prepared.request_rows:
            return {}
        if self._sqlite:
            return self._run_with_own_seqs(conn, prepared)
        inserted = self._insert.run(conn, prepared.request_rows)
        return {(organization_id, _as_uuid(request_id)): seq for request_id, organization_id, seq in inserted}

    def _run_with_own_seqs(self, conn: sa.Connection, prepared: PreparedBatch) -> Seqs:
        taken = _existing_keys(conn, prepared.request_rows)
        next_seq: int = conn.execute(sa.select(sa.func.coalesce(sa.func.max(requests.c.seq), 0))).scalar_one()
        seqs: Seqs = {}
        rows: list[tuple[Any, ...]] = []
        for row, item in zip(prepared.request_rows, prepared.requests, strict=True):
            key = (row[_ORG], row[_ID])
            if key in taken:
                continue  # already stored by this organization (a retry, a re-sent log)
            taken.add(key)
            next_seq += 1
            seqs[(item.record.organization_id, item.record.id)] = next_seq
            rows.append((*row, next_seq))
        self._insert.run(conn, rows)
        return seqs


def first_of_each_request(prepared: PreparedBatch) -> PreparedBatch:
    """The batch without later copies of a request (same organization and id) it already holds.

    Child rows and prompt tracking find their request by (organization, id): left in, a second copy (a
    retry queued behind its original, or an id repeated in one upload) would hang its properties,
    scores and prompt inputs on the first copy's row. The first copy wins whole, as it does against an
    already stored request.
    """
    rows = prepared.request_rows
    # The common case, no repeat, costs one set of (organization, encoded id) keys.
    if len({(row[_ORG], row[_ID]) for row in rows}) == len(rows):
        return prepared
    seen: set[tuple[Any, Any]] = set()
    keep: list[int] = []
    for index, row in enumerate(rows):
        key = (row[_ORG], row[_ID])
        if key not in seen:
            seen.add(key)
            keep.append(index)
    kept = {id(prepared.requests[index].record) for index in keep}
    return dataclasses.replace(
        prepared,
        request_rows=[rows[index] for index in keep],
        requests=[prepared.requests[index] for index in keep],
        prompt_uses=[record for record in prepared.prompt_uses if id(record) in kept],
    )


def _existing_keys(conn: sa.Connection, request_rows: list[tuple[Any, ...]]) -> set[tuple[Any, Any]]:
    """(organization, encoded id) of the rows' requests already stored.

    One query per organization (a batch almost always has one), ``organization_id = ? AND id IN
    (...)``: each id is a seek in the (organization_id, id) unique index.
    """
    by_org: dict[Any, list[Any]] = {}
    for row in request_rows:
        by_org.setdefault(row[_ORG], []).append(row[_ID])
    found: set[tuple[Any, Any]] = set()
    for organization_id, encoded_ids in by_org.items():
        for start in range(0, len(encoded_ids), _ID_CHUNK):
            chunk = encoded_ids[start : start + _ID_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.update(
                (organization_id, row[0])
                for row in conn.exec_driver_sql(
                    f"SELECT id FROM requests WHERE organization_id = ? AND id IN ({marks})",
                    (organization_id, *chunk),
                )
            )
    return found


def _as_uuid(value: Any) -> uuid.UUID:
    # psycopg hands back a UUID; other drivers the 16 stored bytes.
    return value if isinstance(value, uuid.UUID) else uuid.UUID(bytes=bytes(value))
