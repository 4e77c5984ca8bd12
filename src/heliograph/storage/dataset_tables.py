"""Tables of datasets (reference §2.8): Helicone datasets, sets of logged requests whose bodies are
copied into the database (no object storage), and legacy experiment datasets, whose rows are prompt input
records. They hang on ``tables.metadata`` (tables.py imports this module last)."""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.tables import metadata
from heliograph.storage.types import CompressedText, UUIDType

# Helicone's helicone_dataset: ``dataset_type`` 'helicone' (rows are requests) or 'experiment' (rows are
# input records); ``meta`` JSON text; soft-deleted by ``deleted_at``.
datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organization_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("dataset_type", sa.String(16), nullable=False),
    sa.Column("meta", sa.Text(), nullable=True),
    sa.Column("deleted_at", sa.BigInteger(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.CheckConstraint("dataset_type IN ('helicone', 'experiment')", name="dataset_type"),
    sa.Index("ix_datasets_organization_id_created_at", "organization_id", "created_at"),
)

# Helicone's helicone_dataset_row, with the copy of the request's bodies Helicone kept in object storage:
# ``payload`` is the ``{request, response}`` JSON the row's signed_url serves (editable through
# POST /v1/helicone-dataset/{id}/request/{rowId}).
dataset_rows = sa.Table(
    "dataset_rows",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("dataset_id", sa.String(36), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("origin_request_id", UUIDType(), nullable=False),
    sa.Column("payload", CompressedText(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_dataset_rows_dataset_id_created_at", "dataset_id", "created_at"),
    # The daily add limit counts an organization's rows of the day.
    sa.Index("ix_dataset_rows_organization_id_created_at", "organization_id", "created_at"),
)

# Helicone's experiment_dataset_v2_row: an input record (prompt_inputs) linked into a dataset.
dataset_input_records = sa.Table(
    "dataset_input_records",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("dataset_id", sa.String(36), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("input_record_id", UUIDType(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.UniqueConstraint("dataset_id", "input_record_id"),
)
