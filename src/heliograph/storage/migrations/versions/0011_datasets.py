"""datasets: Helicone datasets (rows of logged requests with their bodies) and experiment datasets

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from heliograph.storage.types import CompressedText, UUIDType

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _dataset(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["dataset_id"], ["datasets.id"], name=op.f(f"fk_{table}_dataset_id_datasets"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("dataset_type", sa.String(16), nullable=False),
        sa.Column("meta", sa.Text(), nullable=True),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "dataset_type IN ('helicone', 'experiment')", name=op.f("ck_datasets_dataset_type")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_datasets_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
    )
    op.create_index("ix_datasets_organization_id_created_at", "datasets", ["organization_id", "created_at"])
    op.create_table(
        "dataset_rows",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("origin_request_id", UUIDType(), nullable=False),
        sa.Column("payload", CompressedText(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _dataset("dataset_rows"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_rows")),
    )
    op.create_index("ix_dataset_rows_dataset_id_created_at", "dataset_rows", ["dataset_id", "created_at"])
    op.create_index(
        "ix_dataset_rows_organization_id_created_at", "dataset_rows", ["organization_id", "created_at"]
    )
    op.create_table(
        "dataset_input_records",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("input_record_id", UUIDType(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _dataset("dataset_input_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_input_records")),
        sa.UniqueConstraint(
            "dataset_id", "input_record_id", name=op.f("uq_dataset_input_records_dataset_id_input_record_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("dataset_input_records")
    op.drop_table("dataset_rows")
    op.drop_table("datasets")
