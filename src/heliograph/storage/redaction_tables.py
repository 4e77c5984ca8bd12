"""The redaction policy of each organization (services/redaction), on ``tables.metadata`` (tables.py
imports this module last), so migrations and the schema test see one schema."""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.tables import metadata

# One row per organization that ever saved a policy (none: redaction off, every detector chosen).
# ``definition`` is JSON text ({detectors, custom_rules}), read whole and never queried inside;
# ``version`` grows on every save, so a server compiles a policy's patterns once per version.
redaction_policies = sa.Table(
    "redaction_policies",
    metadata,
    sa.Column(
        "organization_id",
        sa.BigInteger(),
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("definition", sa.Text(), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)
