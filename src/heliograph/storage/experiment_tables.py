"""Tables of experiments' results (reference §2.4, §7.1): the output of each cell (an experiment row, an
input record, run with a prompt version gives a logged request) and the background runs that fill the
missing cells. The experiments themselves and their evaluator links live in evaluation_tables.py; rows
are prompt input records (``prompt_inputs.experiment_id``). They hang on ``tables.metadata``."""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.tables import metadata
from heliograph.storage.types import UUIDType

# Helicone's experiment_output: (row, version) -> the logged request that answered it. A cell run again
# replaces its output (Helicone upserts on the triple); ``is_original`` marks the production request a
# row was made from, which sits in the experiment's "Original" column without being run.
experiment_outputs = sa.Table(
    "experiment_outputs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "experiment_id", sa.String(36), sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("input_record_id", UUIDType(), nullable=False),
    sa.Column("prompt_version_id", UUIDType(), nullable=False),
    sa.Column("request_id", UUIDType(), nullable=False),
    sa.Column("is_original", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.UniqueConstraint(
        "experiment_id",
        "input_record_id",
        "prompt_version_id",
        "is_original",
        name="uq_experiment_outputs_cell",
    ),
    sa.Index("ix_experiment_outputs_experiment_id_prompt_version_id", "experiment_id", "prompt_version_id"),
)

# A background run of an experiment's missing cells (POST /v2/experiment/{id}/run). Its cells are jobs
# of the durable queue whose ``ref`` is the run id, so the run survives a restart; ``cells`` is how many
# it queued, and its progress is read from the queue (done = cells - queued - running - failed).
experiment_runs = sa.Table(
    "experiment_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "experiment_id", sa.String(36), sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("cells", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_experiment_runs_experiment_id_created_at", "experiment_id", "created_at"),
)
