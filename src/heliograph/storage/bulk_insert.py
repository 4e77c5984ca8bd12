"""Inserting many rows at once, as multi-row ``VALUES`` statements.

One statement per chunk instead of one execution per row: far fewer driver round trips, and on SQLite
far fewer GIL release/re-acquire cycles (the sqlite3 module releases the GIL around every statement
step, and under load each re-acquire waits for the thread that decodes incoming traces).
Chunk sizes are powers of two so the driver's prepared-statement cache holds a handful of statements.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from heliograph.storage.dialect import insert_ignore_sql

_MAX_ROWS = 256
# SQLite accepts at most 32,766 bound parameters per statement; PostgreSQL 65,535.
_MAX_PARAMETERS = {"sqlite": 32_766, "postgresql": 65_535}


class BulkInsert:
    """``INSERT ... ON CONFLICT DO NOTHING`` of any number of rows into one table."""

    def __init__(self, table: sa.Table, columns: tuple[str, ...], dialect: str) -> None:
        self.table = table.name
        limit = min(_MAX_ROWS, _MAX_PARAMETERS[dialect] // len(columns))
        self._sizes = [1 << bit for bit in range(limit.bit_length() - 1, -1, -1)]
        self._sql = {size: insert_ignore_sql(table, columns, size, dialect) for size in self._sizes}

    def run(self, conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
        start = 0
        for size in self._sizes:
            while len(rows) - start >= size:
                chunk = rows[start : start + size]
                conn.exec_driver_sql(self._sql[size], tuple(value for row in chunk for value in row))
                start += size
