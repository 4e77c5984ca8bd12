"""spans keyed in time order; one index finds a trace, its spans in order, and its root

Revision ID: 0018
Revises: 0017

Spans used to be keyed by (organization, trace id, span id). Trace ids are random, so every new span was
written at a random page of that key, and again of the roots index: on SQLite each such page is one
more 8 KiB written to the WAL at commit (docs/performance.md, issue 17). Now the key starts with the
start time, so new spans append to it (on SQLite the table is WITHOUT ROWID: the rows live in the key's
B-tree, and the key also serves what ``ix_spans_org_start`` did), and one index,
``ix_spans_org_trace`` (organization, trace id, start time, span id, parent span id), serves a trace's
spans in order, a span by id, a trace's first span and its root (the parent is in the index, so the
walk for the first span without a parent reads no table rows). That is one random insert per span
instead of two, and two B-trees instead of four. SQLite copies the table into its new form.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_COLUMNS = (
    "organization_id, trace_id, span_id, parent_span_id, name, kind, start_time, end_time, status_code, "
    "status_message, resource_id, request_seq, attributes, extra"
)
_SQLITE_TABLE = """
CREATE TABLE spans (
    organization_id BIGINT NOT NULL,
    trace_id BLOB NOT NULL,
    span_id BLOB NOT NULL,
    parent_span_id BLOB,
    name TEXT NOT NULL,
    kind SMALLINT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    status_code SMALLINT NOT NULL,
    status_message TEXT,
    resource_id BIGINT,
    request_seq BIGINT,
    attributes BLOB,
    extra BLOB,
    CONSTRAINT pk_spans PRIMARY KEY ({key})
){rowid}
"""
_NEW_KEY = "organization_id, start_time, trace_id, span_id"
_OLD_KEY = "organization_id, trace_id, span_id"
_TRACE_INDEX = (
    "CREATE INDEX ix_spans_org_trace ON spans "
    "(organization_id, trace_id, start_time, span_id, parent_span_id)"
)
_OLD_INDEXES = (
    "CREATE INDEX ix_spans_org_start ON spans (organization_id, start_time)",
    "CREATE INDEX ix_spans_org_roots ON spans (organization_id, trace_id, start_time, span_id) "
    "WHERE parent_span_id IS NULL",
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _copy_sqlite(_SQLITE_TABLE.format(key=_NEW_KEY, rowid=" WITHOUT ROWID"), order=_NEW_KEY)
        conn.exec_driver_sql(_TRACE_INDEX)
        return
    conn.exec_driver_sql("DROP INDEX ix_spans_org_roots")
    conn.exec_driver_sql("DROP INDEX ix_spans_org_start")
    conn.exec_driver_sql("ALTER TABLE spans DROP CONSTRAINT pk_spans")
    conn.exec_driver_sql(f"ALTER TABLE spans ADD CONSTRAINT pk_spans PRIMARY KEY ({_NEW_KEY})")
    conn.exec_driver_sql(_TRACE_INDEX)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _copy_sqlite(_SQLITE_TABLE.format(key=_OLD_KEY, rowid=""), order=_OLD_KEY)
    else:
        conn.exec_driver_sql("DROP INDEX ix_spans_org_trace")
        conn.exec_driver_sql("ALTER TABLE spans DROP CONSTRAINT pk_spans")
        conn.exec_driver_sql(f"ALTER TABLE spans ADD CONSTRAINT pk_spans PRIMARY KEY ({_OLD_KEY})")
    for index in _OLD_INDEXES:
        conn.exec_driver_sql(index)


def _copy_sqlite(create: str, *, order: str) -> None:
    """SQLite cannot change a table's key in place: the rows move into a new table, in key order."""
    conn = op.get_bind()
    conn.exec_driver_sql("ALTER TABLE spans RENAME TO spans_old")
    conn.exec_driver_sql(create)
    # Only a downgrade can meet duplicates: a span re-sent with another start time is two rows under the
    # new key and one under the old; OR IGNORE keeps the first.
    conn.exec_driver_sql(
        f"INSERT OR IGNORE INTO spans ({_COLUMNS}) SELECT {_COLUMNS} FROM spans_old ORDER BY {order}"
    )
    conn.exec_driver_sql("DROP TABLE spans_old")
