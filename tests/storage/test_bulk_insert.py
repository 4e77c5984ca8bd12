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
