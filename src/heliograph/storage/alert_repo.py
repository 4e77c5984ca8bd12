"""Alert rules and their events: rows in and out, scoped by organization, and the aggregates a check
reads over a rule's window (the Metrics API's components, ``metric_queries.py``). The filter tree is
translated by the caller with the shared translator and arrives here as a WHERE clause."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage import metric_queries as mq
from heliograph.storage.alert_tables import alert_events, alert_rules
from heliograph.storage.evaluation_tables import jobs
from heliograph.storage.tables import requests

Row = dict[str, Any]


def insert_rule(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(alert_rules.insert().values(**row))


def find_rule(conn: sa.Connection, organization_id: int, rule_id: str) -> Row | None:
    found = conn.execute(
        sa.select(alert_rules).where(
            alert_rules.c.organization_id == organization_id, alert_rules.c.id == rule_id
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def list_rules(conn: sa.Connection, organization_id: int) -> list[Row]:
    found = conn.execute(
        sa.select(alert_rules)
        .where(alert_rules.c.organization_id == organization_id)
        .order_by(alert_rules.c.created_at.desc(), alert_rules.c.id)
    )
    return [dict(row._mapping) for row in found]


def enabled_rules(conn: sa.Connection) -> list[Row]:
    """Every enabled rule of every organization, the check's work list."""
    found = conn.execute(
        sa.select(alert_rules)
        .where(alert_rules.c.enabled.is_(True))
        .order_by(alert_rules.c.organization_id, alert_rules.c.id)
    )
    return [dict(row._mapping) for row in found]


def update_rule(conn: sa.Connection, organization_id: int, rule_id: str, values: Mapping[str, Any]) -> bool:
    done = conn.execute(
        alert_rules.update()
        .where(alert_rules.c.organization_id == organization_id, alert_rules.c.id == rule_id)
        .values(**values)
    )
    return done.rowcount > 0


def delete_rule(conn: sa.Connection, organization_id: int, rule_id: str, notify_kind: str) -> bool:
    """The rule, its events and its queued or failed notifications. Deleted explicitly: SQLite enforces
    no foreign keys unless asked on every connection. Nothing is touched unless the rule is the
    organization's."""
    if find_rule(conn, organization_id, rule_id) is None:
        return False
    conn.execute(alert_events.delete().where(alert_events.c.rule_id == rule_id))
    conn.execute(
        jobs.delete().where(
            jobs.c.organization_id == organization_id, jobs.c.kind == notify_kind, jobs.c.ref == rule_id
        )
    )
    done = conn.execute(
        alert_rules.delete().where(
            alert_rules.c.organization_id == organization_id, alert_rules.c.id == rule_id
        )
    )
    return done.rowcount > 0


def record_check(conn: sa.Connection, rule_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(alert_rules.update().where(alert_rules.c.id == rule_id).values(**values))


def change_state(conn: sa.Connection, rule_id: str, before: str, after: str, now: int) -> bool:
    """Move the rule from ``before`` to ``after``; False when it was no longer in ``before`` (another
    check got there first), so a change is recorded once however many checks run."""
    done = conn.execute(
        alert_rules.update()
        .where(alert_rules.c.id == rule_id, alert_rules.c.state == before)
        .values(state=after, state_changed_at=now)
    )
    return done.rowcount > 0


def insert_event(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(alert_events.insert().values(**row))


def find_event(conn: sa.Connection, organization_id: int, event_id: str) -> Row | None:
    found = conn.execute(
        sa.select(alert_events).where(
            alert_events.c.organization_id == organization_id, alert_events.c.id == event_id
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def list_events(conn: sa.Connection, organization_id: int, rule_id: str, limit: int) -> list[Row]:
    found = conn.execute(
        sa.select(alert_events)
        .where(alert_events.c.organization_id == organization_id, alert_events.c.rule_id == rule_id)
        .order_by(alert_events.c.created_at.desc(), alert_events.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in found]


def record_delivery(conn: sa.Connection, event_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(alert_events.update().where(alert_events.c.id == event_id).values(**values))


# --- what a check reads ------------------------------------------------------------------------------


def window_clause(organization_id: int, start_ms: int, end_ms: int) -> sa.ColumnElement[bool]:
    """The organization's requests created in ``(start_ms, end_ms]``: a request at the window's start
    belongs to the previous window, so consecutive windows never count one twice."""
    return sa.and_(
        requests.c.organization_id == organization_id,
        requests.c.created_at > start_ms,
        requests.c.created_at <= end_ms,
    )


def window_totals(conn: sa.Connection, where: sa.ColumnElement[bool], names: Sequence[str]) -> mq.Components:
    """The Metrics API's components (``requests``, ``cost``, ``errors``, ``latency_sum`` ...) of the
    matching requests."""
    return mq.totals(conn, where, names)


def window_latency_quantile(
    conn: sa.Connection, where: sa.ColumnElement[bool], fraction: float
) -> float | None:
    """The ``fraction`` quantile of the matching requests' latency (the Metrics API's exact percentile,
    requests without a latency left out); None when none has one. One bucket: the organization."""
    found = mq.percentiles_by_bucket(conn, where, requests.c.organization_id, "latency", (fraction,))
    values = next(iter(found.values()), None)
    return None if values is None else float(values[0])
