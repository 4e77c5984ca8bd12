"""table-based experiments (the API's /v1/experiment): experiments over a dataset, hypotheses and their
runs, and tables of columns and cells

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from heliograph.storage.types import UUIDType

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _parent(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "table_experiments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=True),
        sa.Column("meta", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_table_experiments_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_table_experiments")),
    )
    op.create_index(
        "ix_table_experiments_organization_id_created_at",
        "table_experiments",
        ["organization_id", "created_at"],
    )
    op.create_table(
        "table_experiment_hypotheses",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("experiment_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("prompt_version_id", UUIDType(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("provider_key", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _parent("table_experiment_hypotheses", "experiment_id", "table_experiments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_table_experiment_hypotheses")),
    )
    op.create_index(
        "ix_table_experiment_hypotheses_experiment_id",
        "table_experiment_hypotheses",
        ["experiment_id", "created_at"],
    )
    op.create_table(
        "table_experiment_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("hypothesis_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_row_id", sa.String(36), nullable=False),
        sa.Column("input_record_id", UUIDType(), nullable=False),
        sa.Column("request_id", UUIDType(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _parent("table_experiment_runs", "hypothesis_id", "table_experiment_hypotheses"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_table_experiment_runs")),
    )
    op.create_index(
        "ix_table_experiment_runs_hypothesis_id_row",
        "table_experiment_runs",
        ["hypothesis_id", "dataset_row_id", "created_at"],
    )
    op.create_table(
        "experiment_tables",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("experiment_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _parent("experiment_tables", "experiment_id", "table_experiments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_tables")),
    )
    op.create_index(
        "ix_experiment_tables_organization_id_created_at",
        "experiment_tables",
        ["organization_id", "created_at"],
    )
    op.create_index("ix_experiment_tables_experiment_id", "experiment_tables", ["experiment_id"])
    op.create_table(
        "experiment_table_columns",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("table_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("column_name", sa.Text(), nullable=False),
        sa.Column("column_type", sa.String(16), nullable=False),
        sa.Column("meta", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _parent("experiment_table_columns", "table_id", "experiment_tables"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_table_columns")),
        sa.UniqueConstraint("table_id", "position", name=op.f("uq_experiment_table_columns_position")),
    )
    op.create_table(
        "experiment_table_cells",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("column_id", sa.String(36), nullable=False),
        sa.Column("table_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("meta", sa.Text(), nullable=True),
        sa.Column("request_id", UUIDType(), nullable=True),
        sa.Column("dataset_row_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _parent("experiment_table_cells", "column_id", "experiment_table_columns"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_table_cells")),
        sa.UniqueConstraint("column_id", "row_index", name=op.f("uq_experiment_table_cells_position")),
    )
    op.create_index(
        "ix_experiment_table_cells_table_id_row_index", "experiment_table_cells", ["table_id", "row_index"]
    )
    op.create_index("ix_experiment_table_cells_dataset_row_id", "experiment_table_cells", ["dataset_row_id"])


def downgrade() -> None:
    op.drop_index("ix_experiment_table_cells_dataset_row_id", table_name="experiment_table_cells")
    op.drop_index("ix_experiment_table_cells_table_id_row_index", table_name="experiment_table_cells")
    op.drop_table("experiment_table_cells")
    op.drop_table("experiment_table_columns")
    op.drop_index("ix_experiment_tables_experiment_id", table_name="experiment_tables")
    op.drop_index("ix_experiment_tables_organization_id_created_at", table_name="experiment_tables")
    op.drop_table("experiment_tables")
    op.drop_index("ix_table_experiment_runs_hypothesis_id_row", table_name="table_experiment_runs")
    op.drop_table("table_experiment_runs")
    op.drop_index("ix_table_experiment_hypotheses_experiment_id", table_name="table_experiment_hypotheses")
    op.drop_table("table_experiment_hypotheses")
    op.drop_index("ix_table_experiments_organization_id_created_at", table_name="table_experiments")
    op.drop_table("table_experiments")
