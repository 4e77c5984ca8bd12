"""What every rollup table shares: adding increments to its rows, and splitting a time window into the
whole periods (hours, days) the rollups answer and the ragged edges the request rows answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.storage.bulk_insert import padded
from heliograph.storage.tables import requests
from heliograph.storage.time_buckets import Window

# Rows per upsert statement: for the widest rollup (16 columns), 8,192 bound values, well under both
# databases' limits (SQLite 32,766).
_ROWS_PER_STATEMENT = 512


def add_increments(
    conn: sa.Connection,
    table: str,
    keys: Sequence[str],
    sums: Sequence[str],
    items: Sequence[tuple[Any, ...]],
    *,
    times: bool = False,
) -> None:
    """Upsert ``items`` (key values, then one increment per ``sums`` column, then with ``times`` the
    first and last request time): a new key is inserted, an existing one gets the increments added and
    its times widened. Each key must appear once (PostgreSQL refuses an upsert touching a row twice)."""
    placeholder = "?" if conn.dialect.name == "sqlite" else "%s"
    extra = ("first_at", "last_at") if times else ()
    columns = (*keys, *sums, *extra)
    row_sql = "(" + ", ".join([placeholder] * len(columns)) + ")"
    updates = [f"{name} = {table}.{name} + excluded.{name}" for name in sums]
    if times:
        updates += [
            f"first_at = CASE WHEN excluded.first_at < {table}.first_at THEN excluded.first_at "
            f"ELSE {table}.first_at END",
            f"last_at = CASE WHEN excluded.last_at > {table}.last_at THEN excluded.last_at ELSE {table}.last_at END",
        ]
    sqlite = conn.dialect.name == "sqlite"
    for start in range(0, len(items), _ROWS_PER_STATEMENT):
        chunk = items[start : start + _ROWS_PER_STATEMENT]
        if sqlite:
            # Filled up to a power of two with the last row's key adding nothing (SQLite applies an
            # upsert row by row, so the copies update the row just written by zero): few statements,
            # all prepared (see bulk_insert.py). PostgreSQL refuses a statement touching a row twice.
            last = chunk[-1]
            size, values = padded(
                chunk, (*last[: len(keys)], *([0] * len(sums)), *last[len(keys) + len(sums) :])
            )
        else:
            size, values = len(chunk), tuple(value for item in chunk for value in item)
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row_sql] * size)} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(updates)}",
            values,
        )


@dataclass(frozen=True, slots=True)
class Periods:
    """A window as inclusive epoch ms ``[low, high]``, its whole periods ``[first, stop)`` and, around
    them, the edges."""

    low: int
    high: int
    first: int
    stop: int

    @property
    def whole(self) -> bool:
        return self.first < self.stop

    def edge_rows(self, organization_id: int) -> sa.ColumnElement[bool]:
        """The organization's requests in the window outside its whole periods: two ranges, each an
        index range of its own (one range with an OR inside would read every row of the window)."""
        created, mine = requests.c.created_at, requests.c.organization_id == organization_id
        if not self.whole:
            return sa.and_(mine, created >= self.low, created <= self.high)
        return sa.or_(
            sa.and_(mine, created >= self.low, created < self.first),
            sa.and_(mine, created >= self.stop, created <= self.high),
        )

    def edges(self) -> list[Window]:
        """The edges as inclusive windows (none when the window is whole periods)."""
        if not self.whole:
            return [Window(self.low, self.high)]
        found = (Window(self.low, self.first - 1), Window(self.stop, self.high))
        return [edge for edge in found if edge.start_ms <= edge.end_ms]


def periods(window: Window, unit: int) -> Periods:
    """``window`` (strict or inclusive) split at multiples of ``unit`` ms."""
    low = window.start_ms + 1 if window.strict else window.start_ms
    high = window.end_ms - 1 if window.strict else window.end_ms
    return Periods(low, high, -(-low // unit) * unit, (high + 1) // unit * unit)
