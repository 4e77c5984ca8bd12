"""Session and user filter leaves: ``sessions_request_response_rmt``, ``users_view`` and ``user_metrics``.

Helicone's session and user filters hold two kinds of field (helicone-analytics.md section 1.2):

- Row fields, true of each request: a session's id, name or tag, a user's id. They filter requests
  like any ``request_response_rmt`` leaf and work on every endpoint.
- Totals of a group (a session's cost, a user's request count...). They compare the aggregates of
  the session or user query, as its HAVING clause (``group_filters.py``); row queries cannot answer
  them. Helicone compiles such a leaf to ``true`` wherever it does not apply, silently widening the
  answer; here that is a 400 naming the endpoints where the field applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.storage.request_fields import Field, FilterError, Kind, field_condition, total_tokens
from heliograph.storage.tables import requests, session_tags

SESSION = "session"
USER = "user"
DAY_MS = 86_400_000

Aggregate = Callable[[str], sa.ColumnElement[Any]]


def _sum(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(column), 0)


def _count() -> sa.ColumnElement[int]:
    return sa.func.count()


def active_days(_dialect: str) -> sa.ColumnElement[int]:
    """Distinct UTC days with a request (Helicone's ``active_for``)."""
    return sa.func.count(sa.distinct(requests.c.created_at // DAY_MS))


def _ratio(numerator: sa.ColumnElement[Any], denominator: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.cast(numerator, sa.Float) / sa.func.nullif(denominator, 0)


# The aggregates of one session (requests grouped by session id and name) and of one user.
SESSION_AGGREGATES: dict[str, Aggregate] = {
    "total_cost": lambda _d: _sum(requests.c.cost),
    "total_tokens": lambda _d: _sum(total_tokens()),
    "prompt_tokens": lambda _d: _sum(requests.c.prompt_tokens),
    "completion_tokens": lambda _d: _sum(requests.c.completion_tokens),
    "total_requests": lambda _d: _count(),
    "created_at": lambda _d: sa.func.min(requests.c.created_at),
    "latest_request_created_at": lambda _d: sa.func.max(requests.c.created_at),
}
USER_AGGREGATES: dict[str, Aggregate] = {
    "active_for": active_days,
    "first_active": lambda _d: sa.func.min(requests.c.created_at),
    "last_active": lambda _d: sa.func.max(requests.c.created_at),
    "total_requests": lambda _d: _count(),
    "average_requests_per_day_active": lambda d: _ratio(_count(), active_days(d)),
    "average_tokens_per_request": lambda _d: _ratio(_sum(total_tokens()), _count()),
    "total_completion_tokens": lambda _d: _sum(requests.c.completion_tokens),
    "total_prompt_tokens": lambda _d: _sum(requests.c.prompt_tokens),
    "cost": lambda _d: _sum(requests.c.cost),
}
_AGGREGATE_KINDS = {
    "total_cost": Kind.USD,
    "cost": Kind.USD,
    "created_at": Kind.TIMESTAMP,
    "latest_request_created_at": Kind.TIMESTAMP,
    "first_active": Kind.TIMESTAMP,
    "last_active": Kind.TIMESTAMP,
}


@dataclass(frozen=True, slots=True)
class GroupField:
    """A leaf field that compares a group total: which group, and its aggregate's name."""

    entity: str
    aggregate: str

    def field(self, dialect: str, aggregates: Mapping[str, Aggregate] | None = None) -> Field:
        """The field over the group's aggregate, or over ``aggregates`` (the same totals computed
        another way, e.g. from rollups) when given."""
        table = aggregates or (SESSION_AGGREGATES if self.entity == SESSION else USER_AGGREGATES)
        expression = table[self.aggregate](dialect)
        return Field(_AGGREGATE_KINDS.get(self.aggregate, Kind.NUMBER), lambda _d: expression)


def _tag_scope(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    t = session_tags
    return sa.exists().where(
        t.c.organization_id == requests.c.organization_id, t.c.session_id == requests.c.session_id, cond
    )


_ROW_FIELDS: dict[str, dict[str, Field]] = {
    "sessions_request_response_rmt": {
        "session_tag": Field(Kind.TEXT, lambda _d: session_tags.c.tag, _tag_scope, cut=True),
        "session_session_id": Field(Kind.TEXT, lambda _d: requests.c.session_id, cut=True),
        "session_session_name": Field(Kind.TEXT, lambda _d: requests.c.session_name, cut=True),
    },
    "users_view": {"user_user_id": Field(Kind.TEXT, lambda _d: requests.c.user_id, cut=True)},
    "user_metrics": {},
}
_GROUP_FIELDS: dict[str, dict[str, GroupField]] = {
    "sessions_request_response_rmt": {
        f"session_{name}": GroupField(SESSION, name) for name in SESSION_AGGREGATES
    },
    "users_view": {f"user_{name}": GroupField(USER, name) for name in USER_AGGREGATES},
    "user_metrics": {name: GroupField(USER, name) for name in USER_AGGREGATES if name != "first_active"},
}
GROUP_TABLES = frozenset(_ROW_FIELDS)
_APPLIES_TO = {
    SESSION: "POST /v1/session/query and /v1/session/count",
    USER: "POST /v1/user/metrics/query",
}


def _operator_map(ops: object, name: str) -> Mapping[str, Any]:
    if not isinstance(ops, Mapping) or not ops:
        raise FilterError(f"invalid operators for field {name!r}: expected an object with an operator")
    return ops


def _fields(table: str, body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise FilterError(f"invalid filter table {table!r}: expected an object")
    return body


def row_conditions(table: str, body: object, dialect: str, group: str | None) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions of a session/user leaf table. Group totals of ``group`` (the query's own
    grouping) are left to its HAVING clause; totals of another group are refused."""
    out: list[sa.ColumnElement[bool]] = []
    for name, ops in _fields(table, body).items():
        path = f"{table}.{name}"
        row_field = _ROW_FIELDS[table].get(name)
        if row_field is not None:
            operators = _operator_map(ops, path).items()
            out.extend(field_condition(row_field, path, op, value, dialect) for op, value in operators)
            continue
        group_field = _GROUP_FIELDS[table].get(name)
        if group_field is None:
            raise FilterError(f"unknown filter field '{path}'")
        if group_field.entity != group:
            raise FilterError(
                f"filter field '{path}' compares a {group_field.entity}'s totals: "
                f"it applies to {_APPLIES_TO[group_field.entity]} only"
            )
    return out


def group_conditions(
    leaf: object, dialect: str, group: str, aggregates: Mapping[str, Aggregate] | None = None
) -> list[sa.ColumnElement[bool]]:
    """HAVING conditions of one leaf: its ``group`` totals (everything else is a row condition)."""
    out: list[sa.ColumnElement[bool]] = []
    if not isinstance(leaf, Mapping):
        return out
    for table, body in leaf.items():
        if table not in GROUP_TABLES or not isinstance(body, Mapping):
            continue
        for name, ops in body.items():
            group_field = _GROUP_FIELDS[table].get(name)
            if group_field is None or group_field.entity != group:
                continue
            path = f"{table}.{name}"
            fld = group_field.field(dialect, aggregates)
            out.extend(field_condition(fld, path, op, value, dialect) for op, value in ops.items())
    return out


def has_group_fields(leaf: object, group: str) -> bool:
    if not isinstance(leaf, Mapping):
        return False
    for table, body in leaf.items():
        if table in GROUP_TABLES and isinstance(body, Mapping):
            fields = _GROUP_FIELDS[table]
            if any(name in fields and fields[name].entity == group for name in body):
                return True
    return False


def has_row_fields(leaf: object, group: str) -> bool:
    """Whether the leaf holds anything besides ``group`` totals (an empty leaf or "all" holds nothing)."""
    if not isinstance(leaf, Mapping):
        return False
    for table, body in leaf.items():
        if table not in GROUP_TABLES or not isinstance(body, Mapping):
            return True
        fields = _GROUP_FIELDS[table]
        if any(name not in fields or fields[name].entity != group for name in body):
            return True
    return False
