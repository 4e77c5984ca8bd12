"""evaluators, online evaluators, experiments and their evaluators, the job queue

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _organization(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"], ["organizations.id"], name=op.f(f"fk_{table}_organization_id_organizations")
    )


def upgrade() -> None:
    op.create_table(
        "evaluators",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scoring_type", sa.Text(), nullable=False),
        sa.Column("llm_template", sa.Text(), nullable=True),
        sa.Column("code_template", sa.Text(), nullable=True),
        sa.Column("last_mile_config", sa.Text(), nullable=True),
        sa.Column("check_config", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _organization("evaluators"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluators")),
    )
    op.create_index(
        "ix_evaluators_organization_id_created_at", "evaluators", ["organization_id", "created_at"]
    )
    op.create_table(
        "online_evaluators",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("evaluator_id", sa.String(36), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("property_filters", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _organization("online_evaluators"),
        sa.ForeignKeyConstraint(
            ["evaluator_id"],
            ["evaluators.id"],
            name=op.f("fk_online_evaluators_evaluator_id_evaluators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_online_evaluators")),
    )
    op.create_index("ix_online_evaluators_evaluator_id", "online_evaluators", ["evaluator_id"])
    op.create_index("ix_online_evaluators_organization_id", "online_evaluators", ["organization_id"])
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("original_prompt_version", sa.String(36), nullable=True),
        sa.Column("copied_original_prompt_version", sa.String(36), nullable=True),
        sa.Column("input_keys", sa.Text(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _organization("experiments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    op.create_index(
        "ix_experiments_organization_id_created_at", "experiments", ["organization_id", "created_at"]
    )
    op.create_table(
        "evaluator_experiments",
        sa.Column("experiment_id", sa.String(36), nullable=False),
        sa.Column("evaluator_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_evaluator_experiments_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["evaluator_id"],
            ["evaluators.id"],
            name=op.f("fk_evaluator_experiments_evaluator_id_evaluators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "evaluator_id", name=op.f("pk_evaluator_experiments")),
    )
    op.create_index("ix_evaluator_experiments_evaluator_id", "evaluator_experiments", ["evaluator_id"])
    op.create_table(
        "jobs",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.BigInteger(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'failed')", name=op.f("ck_jobs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_status_run_after", "jobs", ["status", "run_after"])
    op.create_index(
        "ix_jobs_organization_id_kind_ref_status", "jobs", ["organization_id", "kind", "ref", "status"]
    )


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("evaluator_experiments")
    op.drop_table("experiments")
    op.drop_table("online_evaluators")
    op.drop_table("evaluators")
