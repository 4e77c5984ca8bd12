"""Tables of webhooks (reference §5.1) and their delivery log.

A webhook row keeps Helicone's columns that mean something here (``destination``, ``version``,
``config``, ``hmac_key``); ``is_verified`` and ``txt_record`` were never read by Helicone and are left
out. ``config`` is the JSON text ``{sampleRate, propertyFilters, includeData}``, read whole.

The delivery log has one row per attempt (a retried delivery has one row per try, numbered by
``attempt``), so a failing receiver's history is visible. Its growth is bounded by the repository, which
keeps the newest ``MAX_DELIVERIES_PER_WEBHOOK`` rows of each webhook (webhook_repo.py).

They hang on ``tables.metadata`` (tables.py imports this module last), so migrations and the schema test
see one schema.
"""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.tables import metadata
from heliograph.storage.types import BigIntKey

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "organization_id",
        sa.BigInteger(),
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("destination", sa.Text(), nullable=False),
    sa.Column("version", sa.String(16), nullable=False),
    sa.Column("config", sa.Text(), nullable=False),
    sa.Column("hmac_key", sa.String(64), nullable=False),
    sa.Index("ix_webhooks_organization_id_created_at", "organization_id", "created_at"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("webhook_id", sa.String(36), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    # The logged request delivered (the random id of the test payload for a test).
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("is_test", sa.Boolean(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    # None when no answer came (network error, timeout).
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("duration_ms", sa.BigInteger(), nullable=False),
    sa.Column("answer", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    # A webhook's log, newest first (and the pruning of its oldest rows).
    sa.Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
)
