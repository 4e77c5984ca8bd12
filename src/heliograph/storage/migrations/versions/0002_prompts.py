"""prompts: prompts, versions, input keys and input records

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from heliograph.storage.types import UUIDType

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", UUIDType(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("user_defined_id", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("pretty_name", sa.Text(), server_default="", nullable=False),
        sa.Column("meta", sa.Text(), server_default="{}", nullable=False),
        sa.Column("production_version_id", UUIDType(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_prompts_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint(
            "organization_id", "user_defined_id", name=op.f("uq_prompts_organization_id_user_defined_id")
        ),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", UUIDType(), nullable=False),
        sa.Column("prompt_id", UUIDType(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("major_version", sa.Integer(), nullable=False),
        sa.Column("minor_version", sa.Integer(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("shape_hash", sa.String(64), nullable=False),
        sa.Column("model", sa.Text(), server_default="", nullable=False),
        sa.Column("meta", sa.Text(), server_default="{}", nullable=False),
        sa.Column("parent_version_id", UUIDType(), nullable=True),
        sa.Column("experiment_id", UUIDType(), nullable=True),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name=op.f("fk_prompt_versions_prompt_id_prompts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint(
            "prompt_id",
            "major_version",
            "minor_version",
            name=op.f("uq_prompt_versions_prompt_id_major_version_minor_version"),
        ),
    )
    op.create_table(
        "prompt_input_keys",
        sa.Column("version_id", UUIDType(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_prompt_input_keys_version_id_prompt_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "key", name=op.f("pk_prompt_input_keys")),
    )
    op.create_table(
        "prompt_inputs",
        sa.Column("id", UUIDType(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", UUIDType(), nullable=False),
        sa.Column("request_id", UUIDType(), nullable=True),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("auto_inputs", sa.Text(), server_default="[]", nullable=False),
        sa.Column("experiment_id", UUIDType(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_prompt_inputs_version_id_prompt_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_inputs")),
    )
    op.create_index("ix_prompt_inputs_org_request", "prompt_inputs", ["organization_id", "request_id"])
    op.create_index("ix_prompt_inputs_version_created", "prompt_inputs", ["version_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_prompt_inputs_version_created", table_name="prompt_inputs")
    op.drop_index("ix_prompt_inputs_org_request", table_name="prompt_inputs")
    op.drop_table("prompt_inputs")
    op.drop_table("prompt_input_keys")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
