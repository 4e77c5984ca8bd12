"""hourly request rollups, quantile sketches, session and user rollups (the unfiltered metrics read them; the writer keeps
them current)

Revision ID: 0006
Revises: 0005

Upgrading fills both from the requests already stored, so the metrics of an existing database are
right from the first call.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_SUMS = (
    "requests",
    "cost",
    "prompt_tokens",
    "completion_tokens",
    "latency_sum",
    "latency_count",
    "ttft_sum",
    "ttft_count",
    "threats",
)


def upgrade() -> None:
    op.create_table(
        "request_rollups",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _SUMS),
        sa.PrimaryKeyConstraint(
            "organization_id", "hour", "model", "provider", "status", name="pk_request_rollups"
        ),
    )
    # created_at - ((created_at % h) + h) % h: the hour's start, also for times before 1970.
    hour = f"created_at - (((created_at % {_HOUR_MS}) + {_HOUR_MS}) % {_HOUR_MS})"
    op.execute(
        f"""
        INSERT INTO request_rollups (organization_id, hour, model, provider, status, {", ".join(_SUMS)})
        SELECT organization_id, {hour}, model, provider, status,
               count(*), coalesce(sum(cost), 0), coalesce(sum(prompt_tokens), 0),
               coalesce(sum(completion_tokens), 0), coalesce(sum(latency), 0), count(latency),
               coalesce(sum(CASE WHEN time_to_first_token > 0 THEN time_to_first_token END), 0),
               count(CASE WHEN time_to_first_token > 0 THEN 1 END),
               count(CASE WHEN threat THEN 1 END)
        FROM requests
        GROUP BY organization_id, {hour}, model, provider, status
        """
    )

    op.create_table(
        "metric_sketches",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.SmallInteger(), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "hour", "metric", "bin", name="pk_metric_sketches"),
    )
    _fill_sketches()
    op.create_index(
        "ix_requests_org_session_created", "requests", ["organization_id", "session_id", "created_at"]
    )
    _create_group_rollups()


_TOTALS = ("requests", "cost", "prompt_tokens", "completion_tokens")


def _create_group_rollups() -> None:
    totals = [sa.Column(name, sa.BigInteger(), nullable=False) for name in _TOTALS]
    op.create_table(
        "session_rollups",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.Text(), nullable=False),
        sa.Column("session_name", sa.Text(), nullable=False),
        *totals,
        sa.Column("latency_sum", sa.BigInteger(), nullable=False),
        sa.Column("latency_count", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "hour", "session_id", "session_name", name="pk_session_rollups"
        ),
    )
    op.create_table(
        "user_rollups",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _TOTALS),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "day", "user_id", name="pk_user_rollups"),
    )
    sums = "count(*), coalesce(sum(cost), 0), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)"
    hour = f"created_at - (((created_at % {_HOUR_MS}) + {_HOUR_MS}) % {_HOUR_MS})"
    op.execute(
        f"""
        INSERT INTO session_rollups
        SELECT organization_id, {hour}, session_id, coalesce(session_name, ''), {sums},
               coalesce(sum(latency), 0), count(latency), min(created_at), max(created_at)
        FROM requests WHERE session_id IS NOT NULL
        GROUP BY organization_id, {hour}, session_id, coalesce(session_name, '')
        """
    )
    day = f"created_at - (((created_at % {_DAY_MS}) + {_DAY_MS}) % {_DAY_MS})"
    op.execute(
        f"""
        INSERT INTO user_rollups
        SELECT organization_id, {day}, user_id, {sums}, min(created_at), max(created_at)
        FROM requests WHERE user_id IS NOT NULL AND user_id != ''
        GROUP BY organization_id, {day}, user_id
        """
    )


def _fill_sketches() -> None:
    """Bins are logarithms, which SQLite may lack: count them here, a chunk of requests at a time."""
    from heliograph.storage.metric_sketches import bin_of

    conn = op.get_bind()
    counts: dict[tuple[int, int, int, int], int] = {}
    rows = conn.execute(
        sa.text("SELECT organization_id, created_at, latency, prompt_tokens, completion_tokens FROM requests")
    )
    for organization_id, created, latency, prompt, completion in rows:
        hour = created - created % _HOUR_MS
        total = None if prompt is None or completion is None else prompt + completion
        for metric, value in enumerate((latency, prompt, completion, total)):
            if value is not None:
                key = (organization_id, hour, metric, bin_of(value))
                counts[key] = counts.get(key, 0) + 1
    insert = sa.text(
        "INSERT INTO metric_sketches (organization_id, hour, metric, bin, count) VALUES (:o, :h, :m, :b, :c)"
    )
    items = [{"o": o, "h": h, "m": m, "b": b, "c": c} for (o, h, m, b), c in counts.items()]
    for start in range(0, len(items), 10_000):
        conn.execute(insert, items[start : start + 10_000])


def downgrade() -> None:
    op.drop_table("user_rollups")
    op.drop_table("session_rollups")
    op.drop_index("ix_requests_org_session_created", table_name="requests")
    op.drop_table("metric_sketches")
    op.drop_table("request_rollups")
