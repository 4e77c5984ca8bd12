"""SQL of retention: the policies, and which requests and bodies have aged past them (in batches).
The deleting itself is request_removal.py's."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from heliograph.storage.retention_tables import retention_policies
from heliograph.storage.tables import organizations, requests, spans

p = retention_policies.c


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    request_days: int | None
    body_days: int | None
    custom: bool
    bodies_swept_before: int
    bodies_swept_seq: int
    spans_swept_before: int


def get_policy(conn: sa.Connection, organization_id: int) -> StoredPolicy | None:
    row = conn.execute(
        sa.select(
            p.request_days,
            p.body_days,
            p.custom,
            p.bodies_swept_before,
            p.bodies_swept_seq,
            p.spans_swept_before,
        ).where(p.organization_id == organization_id)
    ).one_or_none()
    return None if row is None else StoredPolicy(*row)


def save_policy(
    conn: sa.Connection,
    organization_id: int,
    request_days: int | None,
    body_days: int | None,
    *,
    custom: bool,
    now: int,
) -> None:
    """Set the organization's periods (``custom=False``: back to the server's defaults)."""
    values = {"request_days": request_days, "body_days": body_days, "custom": custom, "updated_at": now}
    updated = conn.execute(
        retention_policies.update().where(p.organization_id == organization_id).values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(retention_policies.insert().values(organization_id=organization_id, **values))


def record_progress(conn: sa.Connection, organization_id: int, now: int, **progress: int) -> None:
    """Save how far the body sweep got (``bodies_swept_before``, ``bodies_swept_seq``,
    ``spans_swept_before``), after each batch, so a sweep cut short resumes where it stopped."""
    updated = conn.execute(
        retention_policies.update().where(p.organization_id == organization_id).values(**progress)
    )
    if updated.rowcount == 0:
        conn.execute(
            retention_policies.insert().values(
                organization_id=organization_id, custom=False, updated_at=now, **progress
            )
        )


def organization_ids(conn: sa.Connection, *, custom_only: bool) -> list[int]:
    """The organizations a sweep visits: every one when the server has default periods, else those with
    their own policy."""
    if custom_only:
        query = sa.select(p.organization_id).where(p.custom.is_(True))
    else:
        query = sa.select(organizations.c.id)
    return sorted(conn.execute(query).scalars())


def max_seq(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(requests.c.seq), 0))).scalar_one())


def expired_requests(conn: sa.Connection, organization_id: int, before: int, limit: int) -> list[int]:
    """The seqs of up to ``limit`` of the organization's oldest requests created before ``before``."""
    r = requests.c
    query = (
        sa.select(r.seq)
        .where(r.organization_id == organization_id, r.created_at < before)
        .order_by(r.created_at, r.seq)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


@dataclass(frozen=True, slots=True)
class Position:
    """Where a batched walk stopped: the last (created_at, seq) read."""

    created_at: int
    seq: int


def aged_requests(
    conn: sa.Connection, organization_id: int, since: int, before: int, after: Position | None, limit: int
) -> list[tuple[int, int]]:
    """(seq, created_at) of requests created in ``[since, before)``, in order, after ``after``."""
    r = requests.c
    conditions = [r.organization_id == organization_id, r.created_at >= since, r.created_at < before]
    if after is not None:
        conditions.append(
            sa.or_(
                r.created_at > after.created_at, sa.and_(r.created_at == after.created_at, r.seq > after.seq)
            )
        )
    query = sa.select(r.seq, r.created_at).where(*conditions).order_by(r.created_at, r.seq).limit(limit)
    return [(int(seq), int(created)) for seq, created in conn.execute(query)]


def backfilled_requests(
    conn: sa.Connection, organization_id: int, after_seq: int, up_to_seq: int, before: int, limit: int
) -> list[int]:
    """Seqs of requests logged after ``after_seq`` (up to ``up_to_seq``) with a timestamp before
    ``before``, in order: the ones a body sweep by time would miss (a backfill). A range of the primary
    key: only what was logged since the last sweep is read."""
    r = requests.c
    query = (
        sa.select(r.seq)
        .where(
            r.seq > after_seq,
            r.seq <= up_to_seq,
            r.organization_id == organization_id,
            r.created_at < before,
        )
        .order_by(r.seq)
        .limit(limit)
    )
    return [int(seq) for seq in conn.execute(query).scalars()]


def old_spans(
    conn: sa.Connection, organization_id: int, before_ns: int, limit: int
) -> list[tuple[bytes, bytes]]:
    """(trace id, span id) of up to ``limit`` of the organization's oldest spans started before
    ``before_ns`` that belong to no request (a request's own spans go with it)."""
    s = spans.c
    query = (
        sa.select(s.trace_id, s.span_id)
        .where(s.organization_id == organization_id, s.start_time < before_ns, s.request_seq.is_(None))
        .order_by(s.start_time)
        .limit(limit)
    )
    return [(bytes(trace), bytes(span)) for trace, span in conn.execute(query)]


def aged_spans(
    conn: sa.Connection, organization_id: int, since_ns: int, before_ns: int, limit: int
) -> list[tuple[bytes, bytes, int]]:
    """(trace id, span id, start) of spans started in ``[since_ns, before_ns)`` that still hold
    attributes or events, oldest first."""
    s = spans.c
    query = (
        sa.select(s.trace_id, s.span_id, s.start_time)
        .where(
            s.organization_id == organization_id,
            s.start_time >= since_ns,
            s.start_time < before_ns,
            sa.or_(s.attributes.is_not(None), s.extra.is_not(None)),
        )
        .order_by(s.start_time)
        .limit(limit)
    )
    return [(bytes(trace), bytes(span), int(start)) for trace, span, start in conn.execute(query)]
