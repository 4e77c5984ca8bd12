"""experiment outputs (row x prompt version -> logged request), background experiment runs, and the
job queue's per-kind claim indexes

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from heliograph.storage.types import UUIDType

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _experiment(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["experiment_id"],
        ["experiments.id"],
        name=op.f(f"fk_{table}_experiment_id_experiments"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "experiment_outputs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("experiment_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("input_record_id", UUIDType(), nullable=False),
        sa.Column("prompt_version_id", UUIDType(), nullable=False),
        sa.Column("request_id", UUIDType(), nullable=False),
        sa.Column("is_original", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _experiment("experiment_outputs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_outputs")),
        sa.UniqueConstraint(
            "experiment_id",
            "input_record_id",
            "prompt_version_id",
            "is_original",
            name=op.f("uq_experiment_outputs_cell"),
        ),
    )
    op.create_index(
        "ix_experiment_outputs_experiment_id_prompt_version_id",
        "experiment_outputs",
        ["experiment_id", "prompt_version_id"],
    )
    op.create_table(
        "experiment_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("experiment_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _experiment("experiment_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_runs")),
    )
    op.create_index(
        "ix_experiment_runs_experiment_id_created_at", "experiment_runs", ["experiment_id", "created_at"]
    )

    # A claim reads each kind's due jobs in index order and stops at its limit (jobs/queue.py), however
    # many are queued; queued jobs are taken by priority (their enqueue time, spaced out in a big batch).
    op.add_column("jobs", sa.Column("priority", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE jobs SET priority = run_after")
    op.create_index("ix_jobs_kind_status_priority", "jobs", ["kind", "status", "priority"])
    op.create_index("ix_jobs_kind_status_locked_until", "jobs", ["kind", "status", "locked_until"])


def downgrade() -> None:
    op.drop_index("ix_jobs_kind_status_locked_until", table_name="jobs")
    op.drop_index("ix_jobs_kind_status_priority", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("priority")
    op.drop_index("ix_experiment_runs_experiment_id_created_at", table_name="experiment_runs")
    op.drop_table("experiment_runs")
    op.drop_index("ix_experiment_outputs_experiment_id_prompt_version_id", table_name="experiment_outputs")
    op.drop_table("experiment_outputs")
