"""Inserting many rows at once, as multi-row ``VALUES`` statements.

One statement per chunk instead of one execution per row: far fewer driver round trips, and on SQLite
far fewer GIL release/re-acquire cycles (the sqlite3 module releases the GIL around every statement
step, and under load each re-acquire waits for the thread that decodes incoming traces).
Chunk sizes are powers of two so the driver's prepared-statement cache holds a handful of statements.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.dialect import insert_rows_sql

_MAX_ROWS = 512
# SQLite accepts at most 32,766 bound parameters per statement; PostgreSQL 65,535.
_MAX_PARAMETERS = {"sqlite": 32_766, "postgresql": 65_535}


class BulkInsert:
    """``INSERT ... ON CONFLICT DO NOTHING`` of any number of rows into one table.

    With ``returning`` columns, ``run`` returns them for the rows actually inserted: rows skipped as
    conflicts are not reported (SQLite >= 3.35 and PostgreSQL both behave so). On SQLite every returned
    row is one more statement step, and so one more GIL hand-off: use it on PostgreSQL only, where the
    driver fetches the whole result in one call.
    """

    def __init__(
        self,
        table: sa.Table,
        columns: tuple[str, ...],
        dialect: str,
        *,
        returning: tuple[str, ...] = (),
        ignore_conflicts: bool = True,
    ) -> None:
        self.table = table.name
        limit = min(_MAX_ROWS, _MAX_PARAMETERS[dialect] // len(columns))
        self._sizes = [1 << bit for bit in range(limit.bit_length() - 1, -1, -1)]
        suffix = f" RETURNING {', '.join(returning)}" if returning else ""
        self._sql = {
            size: insert_rows_sql(table, columns, size, dialect, ignore_conflicts=ignore_conflicts) + suffix
            for size in self._sizes
        }
        self._returning = bool(returning)

    def run(self, conn: sa.Connection, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        returned: list[tuple[Any, ...]] = []
        start = 0
        for size in self._sizes:
            while len(rows) - start >= size:
                chunk = rows[start : start + size]
                result = conn.exec_driver_sql(self._sql[size], tuple(itertools.chain.from_iterable(chunk)))
                if self._returning:
                    returned.extend(tuple(row) for row in result)
                start += size
        return returned


def insert_rows(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], *, ignore_conflicts: bool
) -> None:
    """``rows`` (all with the same keys) as multi-row INSERTs (``BulkInsert``), each value made the
    driver's by its column type: an import holds up to tens of thousands of rows, where one execution
    per row costs a statement each, and SQLAlchemy's multi-row ``values()`` recompiles every chunk."""
    if not rows:
        return
    columns = tuple(rows[0])
    processors = [
        table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for name in columns
    ]
    values = [
        tuple(
            value if process is None else process(value)
            for process, value in zip(processors, (row[name] for name in columns), strict=True)
        )
        for row in rows
    ]
    BulkInsert(table, columns, conn.dialect.name, ignore_conflicts=ignore_conflicts).run(conn, values)
