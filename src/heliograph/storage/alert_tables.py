"""Tables of alert rules and their events (docs/alerts.md).

A rule watches one metric of an organization's requests over a sliding window and keeps its state
(``ok`` or ``firing``) with what its last check saw; an event is one change of state (``fired`` or
``resolved``) with the value that caused it and the outcome of its notification. They hang on
``tables.metadata`` (tables.py imports this module last), so migrations and the schema test see one
schema.
"""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.tables import metadata

# One rule. ``filter`` is the Request API's filter tree as JSON text (null: every request); it is read
# whole and translated by the shared filter translator, never queried inside. ``last_*`` are what the
# latest check saw, for people to read; ``state_changed_at`` is when the current state began.
alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "organization_id",
        sa.BigInteger(),
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("metric", sa.String(16), nullable=False),
    sa.Column("aggregation", sa.String(8), nullable=True),
    sa.Column("comparison", sa.String(4), nullable=False),
    sa.Column("threshold", sa.Float(), nullable=False),
    sa.Column("window_seconds", sa.Integer(), nullable=False),
    sa.Column("minimum_request_count", sa.Integer(), nullable=False),
    sa.Column("filter", sa.Text(), nullable=True),
    sa.Column("destination_url", sa.Text(), nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("state_changed_at", sa.BigInteger(), nullable=True),
    sa.Column("last_value", sa.Float(), nullable=True),
    sa.Column("last_request_count", sa.BigInteger(), nullable=True),
    sa.Column("last_checked_at", sa.BigInteger(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.CheckConstraint("state IN ('ok', 'firing')", name="state"),
    sa.Index("ix_alert_rules_organization_id_created_at", "organization_id", "created_at"),
)

# One change of a rule's state, and the delivery of its notification: ``delivery_status`` is pending
# until the first attempt, then delivered, retrying (an attempt failed, another is queued) or failed
# (the last attempt failed).
alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "rule_id",
        sa.String(36),
        sa.ForeignKey("alert_rules.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("value", sa.Float(), nullable=True),
    sa.Column("request_count", sa.BigInteger(), nullable=False),
    sa.Column("threshold", sa.Float(), nullable=False),
    sa.Column("window_start", sa.BigInteger(), nullable=False),
    sa.Column("window_end", sa.BigInteger(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("delivery_status", sa.String(12), nullable=False),
    sa.Column("delivery_attempts", sa.Integer(), nullable=False),
    sa.Column("delivery_http_status", sa.Integer(), nullable=True),
    sa.Column("delivery_error", sa.Text(), nullable=True),
    sa.Column("delivered_at", sa.BigInteger(), nullable=True),
    sa.CheckConstraint("kind IN ('fired', 'resolved')", name="kind"),
    sa.Index("ix_alert_events_rule_id_created_at", "rule_id", "created_at"),
)
