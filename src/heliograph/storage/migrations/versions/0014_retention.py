"""retention and erasure: per-organization retention policies and the body sweep's progress

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("request_days", sa.Integer(), nullable=True),
        sa.Column("body_days", sa.Integer(), nullable=True),
        sa.Column("custom", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("bodies_swept_before", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("bodies_swept_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("spans_swept_before", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_retention_policies_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_retention_policies")),
    )


def downgrade() -> None:
    op.drop_table("retention_policies")
