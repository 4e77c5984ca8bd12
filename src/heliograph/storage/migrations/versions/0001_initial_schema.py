"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import heliograph.storage.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("uuid", heliograph.storage.types.UUIDType(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_organizations_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_organizations_uuid")),
    )
    op.create_table(
        "request_bodies",
        sa.Column(
            "request_seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", heliograph.storage.types.CompressedText(), nullable=False),
        sa.PrimaryKeyConstraint("request_seq", name=op.f("pk_request_bodies")),
    )
    op.create_table(
        "request_properties",
        sa.Column("request_seq", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_seq", "key", name=op.f("pk_request_properties")),
    )
    with op.batch_alter_table("request_properties", schema=None) as batch_op:
        batch_op.create_index(
            "ix_request_properties_lookup", ["organization_id", "key", "value", "created_at"], unique=False
        )

    op.create_table(
        "requests",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", heliograph.storage.types.UUIDType(length=16), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("response_created_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.Text(), server_default="", nullable=False),
        sa.Column("model", sa.Text(), server_default="", nullable=False),
        sa.Column("request_model", sa.Text(), nullable=True),
        sa.Column("response_model", sa.Text(), nullable=True),
        sa.Column("model_override", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("target_url", sa.Text(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency", sa.BigInteger(), nullable=True),
        sa.Column("time_to_first_token", sa.BigInteger(), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
        sa.Column("reasoning_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("prompt_cache_read_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("prompt_cache_write_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("prompt_audio_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("completion_audio_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tokens_estimated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("cost", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("session_id", sa.Text(), nullable=True),
        sa.Column("session_path", sa.Text(), nullable=True),
        sa.Column("session_name", sa.Text(), nullable=True),
        sa.Column("prompt_id", sa.Text(), nullable=True),
        sa.Column("prompt_version", sa.Text(), nullable=True),
        sa.Column("cache_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("cache_reference_id", heliograph.storage.types.UUIDType(length=16), nullable=True),
        sa.Column("country_code", sa.Text(), nullable=True),
        sa.Column("request_referrer", sa.Text(), nullable=True),
        sa.Column("threat", sa.Boolean(), nullable=True),
        sa.Column("is_passthrough_billing", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("trace_id", sa.LargeBinary(length=16), nullable=True),
        sa.Column("span_id", sa.LargeBinary(length=8), nullable=True),
        sa.Column("api_key_id", sa.BigInteger(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_requests")),
        sa.UniqueConstraint("id", name=op.f("uq_requests_id")),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index("ix_requests_org_created", ["organization_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_requests_org_model_created", ["organization_id", "model", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_requests_org_user_created", ["organization_id", "user_id", "created_at"], unique=False
        )

    op.create_table(
        "scores",
        sa.Column("request_seq", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_seq", "key", name=op.f("pk_scores")),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index("ix_scores_org_key", ["organization_id", "key"], unique=False)

    op.create_table(
        "span_resources",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=True),
        sa.Column("resource", heliograph.storage.types.CompressedText(), nullable=False),
        sa.Column("scope", heliograph.storage.types.CompressedText(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_span_resources")),
    )
    op.create_table(
        "spans",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("trace_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("span_id", sa.LargeBinary(length=8), nullable=False),
        sa.Column("parent_span_id", sa.LargeBinary(length=8), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("resource_id", sa.BigInteger(), nullable=True),
        sa.Column("request_seq", sa.BigInteger(), nullable=True),
        sa.Column("attributes", heliograph.storage.types.CompressedText(), nullable=True),
        sa.Column("extra", heliograph.storage.types.CompressedText(), nullable=True),
        sa.PrimaryKeyConstraint("organization_id", "trace_id", "span_id", name=op.f("pk_spans")),
    )
    op.create_table(
        "api_keys",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.Text(), nullable=False),
        sa.Column("permissions", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("permissions IN ('r', 'w', 'rw')", name=op.f("ck_api_keys_permissions")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_api_keys_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("spans")
    op.drop_table("span_resources")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index("ix_scores_org_key")

    op.drop_table("scores")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_org_user_created")
        batch_op.drop_index("ix_requests_org_model_created")
        batch_op.drop_index("ix_requests_org_created")

    op.drop_table("requests")
    with op.batch_alter_table("request_properties", schema=None) as batch_op:
        batch_op.drop_index("ix_request_properties_lookup")

    op.drop_table("request_properties")
    op.drop_table("request_bodies")
    op.drop_table("organizations")
