"""Evaluators, their online configurations and their attached experiments: rows in and out, scoped by
organization. JSON columns are stored as text and parsed by the service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.evaluation_tables import (
    evaluator_experiments,
    evaluators,
    experiments,
    jobs,
    online_evaluators,
)
from heliograph.storage.tables import scores

Row = dict[str, Any]


def insert(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(evaluators.insert().values(**row))


def find(conn: sa.Connection, organization_id: int, evaluator_id: str) -> Row | None:
    found = conn.execute(
        sa.select(evaluators).where(
            evaluators.c.organization_id == organization_id, evaluators.c.id == evaluator_id
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def names(conn: sa.Connection, organization_id: int) -> list[tuple[str, str]]:
    """(id, name) of every evaluator of the organization."""
    found = conn.execute(
        sa.select(evaluators.c.id, evaluators.c.name).where(evaluators.c.organization_id == organization_id)
    )
    return [(str(evaluator_id), str(name)) for evaluator_id, name in found]


def list_all(conn: sa.Connection, organization_id: int) -> list[Row]:
    found = conn.execute(
        sa.select(evaluators)
        .where(evaluators.c.organization_id == organization_id)
        .order_by(evaluators.c.created_at.desc(), evaluators.c.id)
    )
    return [dict(row._mapping) for row in found]


def update(conn: sa.Connection, organization_id: int, evaluator_id: str, values: Mapping[str, Any]) -> bool:
    done = conn.execute(
        evaluators.update()
        .where(evaluators.c.organization_id == organization_id, evaluators.c.id == evaluator_id)
        .values(**values)
    )
    return done.rowcount > 0


def delete(conn: sa.Connection, organization_id: int, evaluator_id: str) -> bool:
    """The evaluator, its online configurations, its experiment links and its queued or failed jobs.
    Deleted explicitly: SQLite enforces no foreign keys unless asked on every connection. Nothing is
    touched unless the evaluator is the organization's."""
    if find(conn, organization_id, evaluator_id) is None:
        return False
    conn.execute(online_evaluators.delete().where(online_evaluators.c.evaluator_id == evaluator_id))
    conn.execute(evaluator_experiments.delete().where(evaluator_experiments.c.evaluator_id == evaluator_id))
    conn.execute(jobs.delete().where(jobs.c.organization_id == organization_id, jobs.c.ref == evaluator_id))
    done = conn.execute(
        evaluators.delete().where(
            evaluators.c.organization_id == organization_id, evaluators.c.id == evaluator_id
        )
    )
    return done.rowcount > 0


def attached_experiments(conn: sa.Connection, organization_id: int, evaluator_id: str) -> list[Row]:
    found = conn.execute(
        sa.select(experiments.c.id, experiments.c.name, experiments.c.created_at)
        .join(evaluator_experiments, evaluator_experiments.c.experiment_id == experiments.c.id)
        .where(
            evaluator_experiments.c.evaluator_id == evaluator_id,
            experiments.c.organization_id == organization_id,
            experiments.c.deleted.is_(False),
        )
        .order_by(experiments.c.created_at.desc())
    )
    return [dict(row._mapping) for row in found]


def online_configs(conn: sa.Connection, organization_id: int, evaluator_id: str) -> list[Row]:
    found = conn.execute(
        sa.select(online_evaluators)
        .where(
            online_evaluators.c.organization_id == organization_id,
            online_evaluators.c.evaluator_id == evaluator_id,
        )
        .order_by(online_evaluators.c.created_at, online_evaluators.c.id)
    )
    return [dict(row._mapping) for row in found]


def online_counts(conn: sa.Connection, organization_id: int) -> dict[str, int]:
    """How many online configurations each evaluator of the organization has."""
    found = conn.execute(
        sa.select(online_evaluators.c.evaluator_id, sa.func.count())
        .where(online_evaluators.c.organization_id == organization_id)
        .group_by(online_evaluators.c.evaluator_id)
    )
    return {str(evaluator_id): int(count) for evaluator_id, count in found}


def insert_online(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(online_evaluators.insert().values(**row))


def delete_online(conn: sa.Connection, organization_id: int, evaluator_id: str, online_id: str) -> bool:
    done = conn.execute(
        online_evaluators.delete().where(
            online_evaluators.c.organization_id == organization_id,
            online_evaluators.c.evaluator_id == evaluator_id,
            online_evaluators.c.id == online_id,
        )
    )
    return done.rowcount > 0


def all_online(conn: sa.Connection) -> list[Row]:
    """Every online configuration of every organization, with its evaluator's name (the ingest path's
    matcher holds them in memory)."""
    found = conn.execute(
        sa.select(
            online_evaluators.c.id,
            online_evaluators.c.organization_id,
            online_evaluators.c.evaluator_id,
            online_evaluators.c.sample_rate,
            online_evaluators.c.property_filters,
            evaluators.c.name,
        ).join(evaluators, evaluators.c.id == online_evaluators.c.evaluator_id)
    )
    return [dict(row._mapping) for row in found]


def online_version(conn: sa.Connection) -> tuple[int, int, str]:
    """A cheap fingerprint of the online configurations (how many, the newest time and the largest id),
    so processes sharing a database notice another's change without reloading them every time."""
    found = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.max(online_evaluators.c.created_at), 0),
            sa.func.coalesce(sa.func.max(online_evaluators.c.id), ""),
        )
    ).one()
    return int(found[0]), int(found[1]), str(found[2])


_DAY_MS = 86_400_000


def score_value_counts(
    conn: sa.Connection, organization_id: int, keys: Sequence[str]
) -> list[tuple[int, int]]:
    """(value, how many) of the scores stored under ``keys``, by value: the stats read distinct values,
    never every score."""
    found = conn.execute(
        sa.select(scores.c.value, sa.func.count())
        .where(scores.c.organization_id == organization_id, scores.c.key.in_(list(keys)))
        .group_by(scores.c.value)
        .order_by(scores.c.value)
    )
    return [(int(value), int(count)) for value, count in found]


def score_days(
    conn: sa.Connection, organization_id: int, keys: Sequence[str], since: int
) -> list[tuple[int, int, int]]:
    """(UTC day number, sum, count) of the scores stored under ``keys`` since ``since`` (epoch ms), by
    the day they were scored."""
    day = (scores.c.created_at // _DAY_MS).label("day")
    found = conn.execute(
        sa.select(day, sa.func.sum(scores.c.value), sa.func.count())
        .where(
            scores.c.organization_id == organization_id,
            scores.c.key.in_(list(keys)),
            scores.c.created_at >= since,
        )
        .group_by(day)
        .order_by(day)
    )
    return [(int(d), int(total), int(count)) for d, total, count in found]
