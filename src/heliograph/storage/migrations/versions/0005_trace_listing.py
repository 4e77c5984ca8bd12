"""trace listing: spans by start time, and trace roots

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ROOTS_WHERE = sa.text("parent_span_id IS NULL")


def upgrade() -> None:
    op.create_index("ix_spans_org_start", "spans", ["organization_id", "start_time"])
    op.create_index(
        "ix_spans_org_roots",
        "spans",
        ["organization_id", "trace_id", "start_time", "span_id"],
        sqlite_where=_ROOTS_WHERE,
        postgresql_where=_ROOTS_WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_spans_org_roots", table_name="spans")
    op.drop_index("ix_spans_org_start", table_name="spans")
