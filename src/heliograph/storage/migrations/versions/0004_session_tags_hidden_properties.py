"""session tags and hidden property keys (the Session and Property APIs)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_tags",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.Text(), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "session_id", "tag", name="pk_session_tags"),
    )
    op.create_index("ix_session_tags_org_tag", "session_tags", ["organization_id", "tag"])
    op.create_table(
        "hidden_property_keys",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "key", name="pk_hidden_property_keys"),
    )


def downgrade() -> None:
    op.drop_table("hidden_property_keys")
    op.drop_index("ix_session_tags_org_tag", table_name="session_tags")
    op.drop_table("session_tags")
