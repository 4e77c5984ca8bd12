"""Property API use cases (helicone-api.md section 2.9, helicone-analytics.md section 7): the keys an
organization's requests carry, hiding and restoring them, and each key's values over time, by cost,
by requests and by search.

Where Helicone is wrong, the answer is right in Helicone's shape (docs/compatibility.md): "top"
queries count only the requests that have the key (Helicone's ClickHouse map lookup puts every other
request under ``""`` and into the "Other" total), counts are JSON numbers, search matches its term
literally, and keys and values come in a stable order.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.services.analytics_inputs import (
    check_bucket_count,
    increment,
    iso_window,
    row_filter,
    tz_minutes,
    unfiltered,
)
from heliograph.services.errors import InvalidInput
from heliograph.services.keys import AuthContext
from heliograph.storage import property_repo, property_rollups
from heliograph.storage.request_fields import property_value
from heliograph.storage.request_filters import request_filter_clause
from heliograph.storage.request_repo import SESSION_PROPERTY_COLUMNS
from heliograph.storage.text_limits import fits, too_long, truncate
from heliograph.storage.time_buckets import Window, bucket_series, iso

TOP_VALUES = 10
SEARCH_LIMIT = 25
OTHER = "Other"
_NANO_USD = 1_000_000_000


def _usd(nano_usd: int) -> float:
    return nano_usd / _NANO_USD


def _lookup_key(key: str, field: str) -> str | None:
    """The stored form of a key to read by; None when no stored key can equal it (a NUL, which neither
    database stores)."""
    if not key:
        raise InvalidInput(f"{field} must be a non-empty string")
    if "\x00" in key:
        return None
    # Stored keys are cut to the index's limit (text_limits.py), as the filter translator reads them.
    return truncate(key)


def _stored_key(key: str) -> str:
    """A key as hide and restore store it: refused, not cut, when it cannot be one."""
    if not key:
        raise InvalidInput("key must be a non-empty string")
    if "\x00" in key:
        raise InvalidInput("key must not contain NUL characters")
    if not fits(key):
        raise InvalidInput(too_long("key", key))
    return key


def _has_key(key: str, dialect: str) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[Any]]:
    """Requests that have property ``key`` (the filter translator's ``property_key`` leaf), and the
    value they have."""
    leaf = {"request_response_rmt": {"property_key": {"equals": key}}}
    return request_filter_clause(leaf, dialect=dialect), property_value(key)


def _rolled_over_time(
    conn: sa.Connection, organization_id: int, key: str, window: Window, unit: str, tz: int
) -> list[tuple[str, int, int, int]] | None:
    """``values_over_time`` from the property rollups (None when buckets are not whole hours)."""
    has_key, value = _has_key(key, conn.dialect.name)
    names = ("requests", "cost")
    found = property_rollups.totals_by_bucket(
        conn, organization_id, key, None, window, unit, tz, names, has_key, value
    )
    if found is None:
        return None
    return [(v, b, c["cost"], c["requests"]) for (v, b), c in found.items() if c["requests"]]


def _rolled_top(
    conn: sa.Connection, organization_id: int, key: str, window: Window, measure: Literal["cost", "count"]
) -> tuple[list[tuple[str, int]], int]:
    """``top_values`` from the property rollups: whole hours rolled up, the edges from the rows."""
    has_key, value = _has_key(key, conn.dialect.name)
    found = property_rollups.by_value(
        conn, organization_id, key, window, ("requests", "cost"), has_key, value
    )
    name = "cost" if measure == "cost" else "requests"
    ordered = sorted(((v, c[name]) for v, c in found.items()), key=lambda item: (-item[1], item[0]))
    return ordered[:TOP_VALUES], sum(amount for _v, amount in ordered)


class PropertyService:
    def __init__(self, engine: sa.Engine, *, clock: Clock) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock

    def keys(self, auth: AuthContext) -> list[dict[str, str]]:
        with self._engine.connect() as conn:
            found = property_repo.property_keys(conn, auth.organization_id)
        return [{"property": key} for key in found]

    def hidden(self, auth: AuthContext) -> list[dict[str, str]]:
        with self._engine.connect() as conn:
            found = property_repo.hidden_keys(conn, auth.organization_id)
        return [{"property": key} for key in found]

    def hide(self, auth: AuthContext, key: str) -> dict[str, bool]:
        stored = _stored_key(key)
        with self._engine.begin() as conn:
            property_repo.hide_key(conn, auth.organization_id, stored, self._clock())
        return {"ok": True}

    def restore(self, auth: AuthContext, key: str) -> dict[str, bool]:
        stored = _stored_key(key)
        with self._engine.begin() as conn:
            property_repo.restore_key(conn, auth.organization_id, stored)
        return {"ok": True}

    def over_time(
        self,
        auth: AuthContext,
        key: str,
        *,
        start: str,
        end: str,
        node: object,
        unit: str,
        tz: float,
    ) -> list[dict[str, Any]]:
        """Per bucket, one row per value of ``key`` among the requests that have it; a bucket without
        any gets Helicone's filler row (``property ""``, zeros), as ClickHouse's WITH FILL does."""
        lookup = _lookup_key(key, "propertyKey")
        unit = increment(unit)
        offset = tz_minutes(tz, "timeZoneDifference")
        window = iso_window(start, end)
        check_bucket_count(window, unit)
        where = row_filter(node, self._dialect)
        by_bucket: dict[int, list[tuple[str, int, int]]] = {}
        if lookup is not None:
            with self._engine.connect() as conn:
                found = None
                if lookup not in SESSION_PROPERTY_COLUMNS and unfiltered(node):
                    found = _rolled_over_time(conn, auth.organization_id, lookup, window, unit, offset)
                if found is None:
                    found = property_repo.values_over_time(
                        conn, auth.organization_id, lookup, window, (unit, offset), where
                    )
            for value, b, cost, count in found:
                by_bucket.setdefault(b, []).append((value, cost, count))
        rows: list[dict[str, Any]] = []
        for b in bucket_series(window.start_ms, window.end_ms, unit, offset):
            at = iso(b)
            for value, cost, count in sorted(by_bucket.get(b, [("", 0, 0)])):
                rows.append(
                    {
                        "property": value,
                        "total_cost": _usd(cost),
                        "request_count": count,
                        "created_at_trunc": at,
                    }
                )
        return rows

    def top(
        self, auth: AuthContext, key: str, start: str, end: str, measure: Literal["cost", "count"]
    ) -> list[dict[str, Any]]:
        """The ten values of ``key`` with the most cost (or requests) in ``(start, end)``, then
        ``Other``: the rest of the requests that have the key, when there is any."""
        lookup = _lookup_key(key, "propertyKey")
        bounds = iso_window(start, end)
        window = Window(bounds.start_ms, bounds.end_ms, strict=True)
        if lookup is None:
            return []
        with self._engine.connect() as conn:
            if lookup in SESSION_PROPERTY_COLUMNS:
                top, total = property_repo.top_values(
                    conn, auth.organization_id, lookup, window, measure, limit=TOP_VALUES
                )
            else:
                top, total = _rolled_top(conn, auth.organization_id, lookup, window, measure)
        rest = total - sum(amount for _value, amount in top)
        entries = [*top, (OTHER, rest)] if rest > 0 else top
        if measure == "cost":
            return [{"value": value, "cost": _usd(amount)} for value, amount in entries]
        return [{"value": value, "count": amount} for value, amount in entries]

    def search(self, auth: AuthContext, key: str, term: str) -> list[str]:
        lookup = _lookup_key(key, "propertyKey")
        if lookup is None or "\x00" in term:
            return []  # no stored key or value holds a NUL
        with self._engine.connect() as conn:
            return property_repo.search_values(conn, auth.organization_id, lookup, term, limit=SEARCH_LIMIT)
