"""Multi-row inserts: every row arrives whatever the count, conflicts are skipped, RETURNING reports
only rows actually inserted."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from heliograph.storage.bulk_insert import BulkInsert
from heliograph.storage.tables import organizations

COLUMNS = ("id", "uuid", "name", "created_at")


def _rows(dialect: str, ids: range) -> list[tuple[object, ...]]:
    def encoded(value: uuid.UUID) -> object:
        return value.bytes if dialect == "sqlite" else value

    return [(i, encoded(uuid.UUID(int=i)), f"org-{i}", 0) for i in ids]


@pytest.mark.parametrize("count", [1, 7, 512, 700])
def test_every_row_is_inserted_whatever_the_count(engine: sa.Engine, count: int) -> None:
    insert = BulkInsert(organizations, COLUMNS, engine.dialect.name)
    with engine.begin() as conn:
        insert.run(conn, _rows(engine.dialect.name, range(1, count + 1)))
        stored = conn.execute(sa.select(organizations.c.id).order_by(organizations.c.id)).scalars().all()
    assert stored == list(range(1, count + 1))


def test_conflicts_are_skipped_and_not_returned(engine: sa.Engine) -> None:
    dialect = engine.dialect.name
    insert = BulkInsert(organizations, COLUMNS, dialect, returning=("id",))
    with engine.begin() as conn:
        assert sorted(row[0] for row in insert.run(conn, _rows(dialect, range(1, 4)))) == [1, 2, 3]
        again = insert.run(conn, _rows(dialect, range(2, 6)))
        total = conn.scalar(sa.select(sa.func.count()).select_from(organizations))
    assert sorted(row[0] for row in again) == [4, 5]
    assert total == 5


def test_without_ignore_a_conflict_fails_the_statement(engine: sa.Engine) -> None:
    dialect = engine.dialect.name
    strict = BulkInsert(organizations, COLUMNS, dialect, ignore_conflicts=False)
    with engine.begin() as conn:
        strict.run(conn, _rows(dialect, range(1, 3)))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        strict.run(conn, _rows(dialect, range(2, 4)))
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(organizations)) == 2


def test_a_strict_insert_in_a_transaction_rolled_back_on_error_still_fails_on_a_conflict(
    engine: sa.Engine,
) -> None:
    """SQLite pads such an insert (copies of its last row dropped by the conflict clause) and counts
    the rows inserted: a real conflict is still an error, and the transaction keeps nothing."""
    dialect = engine.dialect.name
    strict = BulkInsert(organizations, COLUMNS, dialect, ignore_conflicts=False, rolled_back_on_error=True)
    with engine.begin() as conn:
        strict.run(conn, _rows(dialect, range(1, 4)))  # 3 rows: one statement of 4 on SQLite
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        strict.run(conn, _rows(dialect, range(10, 15)) + _rows(dialect, range(3, 4)))
    with engine.connect() as conn:
        stored = conn.execute(sa.select(organizations.c.id).order_by(organizations.c.id)).scalars().all()
    assert stored == [1, 2, 3]


@pytest.mark.parametrize("count", [1, 3, 5, 129, 600])
def test_rollup_upserts_add_each_increment_once_whatever_the_count(engine: sa.Engine, count: int) -> None:
    from heliograph.storage.rollup_tables import add_increments

    items = [(7, f"k{index}", 100, index, 1) for index in range(count)]
    with engine.begin() as conn:
        for _ in range(2):
            add_increments(
                conn, "score_rollups", ("organization_id", "key", "hour", "value"), ("count",), items
            )
        rows = conn.exec_driver_sql("SELECT key, value, count FROM score_rollups ORDER BY value").all()
    assert [tuple(row) for row in rows] == [(f"k{index}", index, 2) for index in range(count)]
