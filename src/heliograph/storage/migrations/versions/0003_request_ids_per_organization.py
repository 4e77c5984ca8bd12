"""request ids unique per organization: unique (organization_id, id) instead of unique (id)

Revision ID: 0003
Revises: 0002

Downgrading refuses, and changes nothing, when two organizations hold the same request id: 0002 allows
each id once, and keeping one of them would silently delete the other organization's log. The error
names how many ids are shared and a few of them, so an operator can decide what to remove.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

from heliograph.storage.types import UUIDType

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SHOWN = 3


def upgrade() -> None:
    # On SQLite a table constraint can only go by rebuilding the table, which batch mode does.
    with op.batch_alter_table("requests") as batch_op:
        batch_op.drop_constraint("uq_requests_id", type_="unique")
        batch_op.create_unique_constraint("uq_requests_organization_id_id", ["organization_id", "id"])


def downgrade() -> None:
    _refuse_shared_ids()
    with op.batch_alter_table("requests") as batch_op:
        batch_op.drop_constraint("uq_requests_organization_id_id", type_="unique")
        batch_op.create_unique_constraint("uq_requests_id", ["id"])


def _refuse_shared_ids() -> None:
    requests = sa.table("requests", sa.column("id", UUIDType()))
    shared = sa.select(requests.c.id).group_by(requests.c.id).having(sa.func.count() > 1).subquery()
    connection = op.get_bind()
    total = connection.execute(sa.select(sa.func.count()).select_from(shared)).scalar_one()
    if not total:
        return
    examples = connection.execute(sa.select(shared.c.id).order_by(shared.c.id).limit(_SHOWN)).scalars()
    shown = ", ".join(str(value) for value in examples)
    raise CommandError(
        f"cannot downgrade below 0003: {total} request id(s) are used by more than one organization "
        f"(for example {shown}), and revision 0002 allows each request id once. Nothing was changed. "
        "Delete or re-id the requests of all but one organization for each of these ids, then retry."
    )
