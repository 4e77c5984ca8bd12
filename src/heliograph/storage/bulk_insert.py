"""Inserting many rows at once, as multi-row ``VALUES`` statements.

One statement per chunk instead of one execution per row: far fewer driver round trips, and on SQLite
far fewer GIL release/re-acquire cycles (the sqlite3 module releases the GIL around every statement
step, and under load each re-acquire waits for the thread that decodes incoming traces).
Chunk sizes are powers of two so the driver's prepared-statement cache holds a handful of statements.

On SQLite a chunk is one statement of the next power of two, filled up with copies of its last row that
the conflict clause drops (:func:`padded`): a batch of any size up to 512 rows is one statement, not up
to nine. Every statement is a GIL hand-off for the writer thread, and under load each re-take of the GIL
waits behind the thread decoding the next request (issue 17); compiling a statement for every new size
costs about 7 µs a row, so the few sizes also stay prepared.
"""

from __future__ import annotations

import itertools
import sqlite3
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
        rolled_back_on_error: bool = False,
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
        # Padding needs the conflict clause (the copies must be dropped) and no RETURNING (SQLite only
        # uses it on PostgreSQL). Without ignore_conflicts, a real conflict is still an error (the rows
        # inserted are counted, :meth:`_run_padded`), but the chunk's other rows are in by then: only
        # for a caller whose whole transaction is rolled back on the error (``rolled_back_on_error``).
        self._padded = dialect == "sqlite" and not returning and (ignore_conflicts or rolled_back_on_error)
        self._strict = not ignore_conflicts
        if self._padded:
            self._sql = {
                size: insert_rows_sql(table, columns, size, dialect, ignore_conflicts=True)
                for size in self._sizes
            }

    def run(self, conn: sa.Connection, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if self._padded:
            self._run_padded(conn, rows)
            return []
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

    def _run_padded(self, conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
        largest = self._sizes[0]
        for start in range(0, len(rows), largest):
            chunk = rows[start : start + largest]
            size, values = padded(chunk, chunk[-1])
            inserted = conn.exec_driver_sql(self._sql[size], values).rowcount
            if self._strict and inserted != len(chunk):
                statement = f"INSERT INTO {self.table}"
                raise sa.exc.IntegrityError(
                    statement, None, sqlite3.IntegrityError(f"{statement}: a row exists")
                )


def padded(chunk: Sequence[tuple[Any, ...]], filler: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
    """The chunk's values flattened and filled up with ``filler`` rows to the next power of two: the
    statement's row count, and its parameters."""
    size = 1 << (len(chunk) - 1).bit_length()
    values = tuple(itertools.chain.from_iterable(chunk))
    return size, values + filler * (size - len(chunk))


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
