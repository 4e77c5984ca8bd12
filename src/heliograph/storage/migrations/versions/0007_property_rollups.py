"""property, score and country rollups, and a quantile sketch index: per property value and hour, the components of the metrics; per score
key, hour and value, how many scores

Revision ID: 0007
Revises: 0006

Upgrading fills them from the properties, scores and requests already stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_HOUR_MS = 3_600_000


_COMPONENTS = (
    "requests",
    "cost",
    "prompt_tokens",
    "completion_tokens",
    "latency_sum",
    "latency_count",
    "series_latency_sum",
    "series_latency_count",
    "ttft_sum",
    "ttft_count",
    "threats",
    "errors",
)


def upgrade() -> None:
    op.create_table(
        "property_rollups",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _COMPONENTS),
        sa.PrimaryKeyConstraint("organization_id", "key", "value", "hour", name="pk_property_rollups"),
    )
    hour = f"r.created_at - (((r.created_at % {_HOUR_MS}) + {_HOUR_MS}) % {_HOUR_MS})"
    not_batch = "lower(r.model) NOT LIKE '%-batch%'"
    op.execute(
        f"""
        INSERT INTO property_rollups (organization_id, key, value, hour, {", ".join(_COMPONENTS)})
        SELECT p.organization_id, p.key, p.value, {hour},
               count(*), coalesce(sum(r.cost), 0), coalesce(sum(r.prompt_tokens), 0),
               coalesce(sum(r.completion_tokens), 0), coalesce(sum(r.latency), 0), count(r.latency),
               coalesce(sum(CASE WHEN {not_batch} THEN r.latency END), 0),
               count(CASE WHEN {not_batch} THEN r.latency END),
               coalesce(sum(CASE WHEN r.time_to_first_token > 0 THEN r.time_to_first_token END), 0),
               count(CASE WHEN r.time_to_first_token > 0 THEN 1 END),
               count(CASE WHEN r.threat THEN 1 END),
               count(CASE WHEN r.status < 200 OR r.status >= 300 THEN 1 END)
        FROM request_properties p JOIN requests r ON r.seq = p.request_seq
        GROUP BY p.organization_id, p.key, p.value, {hour}
        """
    )

    op.create_table(
        "score_rollups",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "key", "hour", "value", name="pk_score_rollups"),
    )
    op.create_index("ix_score_rollups_org_hour", "score_rollups", ["organization_id", "hour"])
    op.execute(
        f"""
        INSERT INTO score_rollups (organization_id, key, hour, value, count)
        SELECT s.organization_id, s.key, {hour}, s.value, count(*)
        FROM scores s JOIN requests r ON r.seq = s.request_seq
        GROUP BY s.organization_id, s.key, {hour}, s.value
        """
    )

    op.create_table(
        "country_rollups",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("country_code", sa.Text(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "hour", "country_code", name="pk_country_rollups"),
    )
    plain_hour = f"created_at - (((created_at % {_HOUR_MS}) + {_HOUR_MS}) % {_HOUR_MS})"
    op.execute(
        f"""
        INSERT INTO country_rollups (organization_id, hour, country_code, requests)
        SELECT organization_id, {plain_hour}, country_code, count(*)
        FROM requests WHERE country_code IS NOT NULL
        GROUP BY organization_id, {plain_hour}, country_code
        """
    )
    # The unfiltered quantiles read one metric's bins over a range of hours.
    op.create_index(
        "ix_metric_sketches_org_metric_hour",
        "metric_sketches",
        ["organization_id", "metric", "hour", "bin", "count"],
    )


def downgrade() -> None:
    op.drop_index("ix_metric_sketches_org_metric_hour", table_name="metric_sketches")
    op.drop_table("country_rollups")
    op.drop_index("ix_score_rollups_org_hour", table_name="score_rollups")
    op.drop_table("score_rollups")
    op.drop_table("property_rollups")
