"""An organization's retention policy: how long its requests and their bodies are kept. It hangs on
``tables.metadata`` (tables.py imports this module last)."""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.tables import metadata

# A row exists once the organization set its own policy; without one the server's defaults apply
# (HELIOGRAPH_RETENTION_DAYS, HELIOGRAPH_BODY_RETENTION_DAYS). A NULL period keeps data forever.
# ``bodies_swept_before`` / ``bodies_swept_seq``: how far the body sweep got (every request created
# before the first and logged up to the second has no body), so a sweep reads only the requests that aged
# past the body period since, plus those logged since with an older timestamp (a backfill), instead of
# every request whose body is already gone. ``spans_swept_before`` (epoch ns): the same for the
# attributes and events of spans, which hold the conversation too.
retention_policies = sa.Table(
    "retention_policies",
    metadata,
    sa.Column(
        "organization_id",
        sa.BigInteger(),
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("request_days", sa.Integer(), nullable=True),
    sa.Column("body_days", sa.Integer(), nullable=True),
    sa.Column("custom", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("bodies_swept_before", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("bodies_swept_seq", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("spans_swept_before", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)
