"""Tables of Helicone's table-based experiments, the API's ``/v1/experiment`` (reference §2.5, §5.1
"Experiments v2"): an experiment over a dataset with its metadata, its hypotheses (a prompt version and
a model) and their runs (a dataset row answered by a logged request), and the spreadsheet-like tables
(columns, and cells addressed by row index) the old web UI drew. They hang on ``tables.metadata``
(tables.py imports this module last). JSON is stored as text: it is read whole, never queried inside.
"""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.tables import metadata
from heliograph.storage.types import UUIDType

# Helicone's experiment_v2: ``dataset_id`` is a dataset of the organization (datasets.py), ``meta`` the
# caller's JSON (``meta.prompt_id`` lists it under GET /v1/prompt/{id}/experiments).
table_experiments = sa.Table(
    "table_experiments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organization_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("dataset_id", sa.String(36), nullable=True),
    sa.Column("meta", sa.Text(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_table_experiments_organization_id_created_at", "organization_id", "created_at"),
)

# Helicone's experiment_v2_hypothesis: a prompt version run with ``model`` (which replaces the template's).
# ``status`` is PENDING, RUNNING, COMPLETED or FAILED as created, or STARTED once a run was started for
# it, after which its status is read from its rows' jobs (table_views.hypothesis_status).
table_experiment_hypotheses = sa.Table(
    "table_experiment_hypotheses",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.String(36),
        sa.ForeignKey("table_experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("prompt_version_id", UUIDType(), nullable=False),
    sa.Column("model", sa.Text(), nullable=False),
    sa.Column("provider_key", sa.Text(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_table_experiment_hypotheses_experiment_id", "experiment_id", "created_at"),
)

# Helicone's experiment_v2_hypothesis_run: one dataset row (a link of an input record into the
# experiment's dataset) answered by one logged request. A row run again gets a new run; readers take the
# newest per row.
table_experiment_runs = sa.Table(
    "table_experiment_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "hypothesis_id",
        sa.String(36),
        sa.ForeignKey("table_experiment_hypotheses.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("dataset_row_id", sa.String(36), nullable=False),
    sa.Column("input_record_id", UUIDType(), nullable=False),
    sa.Column("request_id", UUIDType(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_table_experiment_runs_hypothesis_id_row", "hypothesis_id", "dataset_row_id", "created_at"),
)

# Helicone's experiment_table: ``meta`` is the table's metadata (``datasetId``: where new rows' input
# records are linked).
experiment_tables = sa.Table(
    "experiment_tables",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.String(36),
        sa.ForeignKey("table_experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("meta", sa.Text(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_experiment_tables_organization_id_created_at", "organization_id", "created_at"),
    sa.Index("ix_experiment_tables_experiment_id", "experiment_id"),
)

# Helicone's experiment_column: ``column_type`` input, output or experiment; ``meta`` holds the
# ``hypothesisId`` and ``promptVersionId`` the column shows. ``position`` keeps creation order (several
# columns are made in the same millisecond).
experiment_table_columns = sa.Table(
    "experiment_table_columns",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "table_id", sa.String(36), sa.ForeignKey("experiment_tables.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("column_name", sa.Text(), nullable=False),
    sa.Column("column_type", sa.String(16), nullable=False),
    sa.Column("meta", sa.Text(), nullable=True),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.UniqueConstraint("table_id", "position", name="uq_experiment_table_columns_position"),
)

# Helicone's experiment_cell: one per (column, row index). ``meta`` carries the row's ``inputId`` (its
# input record), ``datasetRowId``, ``cellType``, the input cell's ``inputs`` and a deleted row's
# ``deleted``; ``request_id`` is the logged request a hypothesis run wrote into the cell.
experiment_table_cells = sa.Table(
    "experiment_table_cells",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "column_id",
        sa.String(36),
        sa.ForeignKey("experiment_table_columns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("table_id", sa.String(36), nullable=False),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("row_index", sa.Integer(), nullable=False),
    sa.Column("value", sa.Text(), nullable=True),
    sa.Column("status", sa.Text(), nullable=True),
    sa.Column("meta", sa.Text(), nullable=True),
    sa.Column("request_id", UUIDType(), nullable=True),
    # ``meta.datasetRowId``, kept in step with it: a hypothesis run finds the cells of its row by index.
    sa.Column("dataset_row_id", sa.String(36), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.UniqueConstraint("column_id", "row_index", name="uq_experiment_table_cells_position"),
    sa.Index("ix_experiment_table_cells_table_id_row_index", "table_id", "row_index"),
    sa.Index("ix_experiment_table_cells_dataset_row_id", "dataset_row_id"),
)
