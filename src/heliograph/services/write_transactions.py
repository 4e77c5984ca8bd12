"""The write transaction the use cases share: the database's write lock taken up front on SQLite (so a
read-then-write is not interleaved with another writer), and the rare race no lock covers reported as a
Conflict the caller may retry rather than a 500."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from heliograph.services.errors import Conflict
from heliograph.storage.dialect import write_transaction_start


@contextmanager
def write_transaction(engine: sa.Engine, conflict: str) -> Iterator[sa.Connection]:
    """A transaction for a use case's writes; an IntegrityError (another server on the same PostgreSQL
    database won a race the locks do not cover) becomes ``Conflict(conflict)``."""
    try:
        with engine.begin() as conn:
            write_transaction_start(conn, engine.dialect.name)
            yield conn
    except sa.exc.IntegrityError as exc:
        raise Conflict(conflict) from exc
