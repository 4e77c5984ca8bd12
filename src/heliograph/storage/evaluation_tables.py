"""Tables of evaluators, their online (production) configurations, the experiments they attach to, and
the durable job queue that runs them (and, later, webhooks and experiment runs).

They hang on ``tables.metadata`` (tables.py imports this module last), so migrations and the schema test
see one schema.
"""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.tables import metadata
from heliograph.storage.types import BigIntKey

# One evaluator: which kind runs is decided by the field that is set, in Helicone's order
# (last_mile_config, llm_template, code_template), then ours (check_config). JSON is stored as text: it is
# read whole and never queried inside. Ids are UUID text, as Helicone hands them out.
evaluators = sa.Table(
    "evaluators",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organization_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("scoring_type", sa.Text(), nullable=False),
    sa.Column("llm_template", sa.Text(), nullable=True),
    sa.Column("code_template", sa.Text(), nullable=True),
    sa.Column("last_mile_config", sa.Text(), nullable=True),
    sa.Column("check_config", sa.Text(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_evaluators_organization_id_created_at", "organization_id", "created_at"),
)

# Production sampling of one evaluator: ``sample_rate`` in percent, ``property_filters`` a JSON list of
# {key, value} that must all match.
online_evaluators = sa.Table(
    "online_evaluators",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organization_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column(
        "evaluator_id", sa.String(36), sa.ForeignKey("evaluators.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("sample_rate", sa.Float(), nullable=False),
    sa.Column("property_filters", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_online_evaluators_evaluator_id", "evaluator_id"),
    sa.Index("ix_online_evaluators_organization_id", "organization_id"),
)

# Helicone's experiment_v3 (the API's /v2/experiment); the experiment issue fills in its use.
experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organization_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("original_prompt_version", sa.String(36), nullable=True),
    sa.Column("copied_original_prompt_version", sa.String(36), nullable=True),
    sa.Column("input_keys", sa.Text(), nullable=False),  # JSON list of strings
    sa.Column("deleted", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_experiments_organization_id_created_at", "organization_id", "created_at"),
)

evaluator_experiments = sa.Table(
    "evaluator_experiments",
    metadata,
    sa.Column(
        "experiment_id", sa.String(36), sa.ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "evaluator_id", sa.String(36), sa.ForeignKey("evaluators.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_evaluator_experiments_evaluator_id", "evaluator_id"),
)

# The durable job queue (jobs/). A job is written in the transaction that causes it, claimed by a worker
# with a lease (``locked_until``), retried with backoff (``run_after``) and deleted when it succeeds; one
# that used up its attempts stays as status 'failed' with ``last_error``, which the API shows. ``ref``
# names what the job serves (an evaluator id) so its failures can be listed; ``subject`` what it acts on
# (a request id).
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("ref", sa.Text(), nullable=True),
    sa.Column("subject", sa.Text(), nullable=True),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("run_after", sa.BigInteger(), nullable=False),
    # The job's place among due jobs of its kind (lower first): its enqueue time, spaced out within a
    # large batch (NewJob.priority_offset_ms), its retry time after a failure.
    sa.Column("priority", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("locked_until", sa.BigInteger(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'failed')", name="status"),
    # The claim queries: due jobs of one kind in order, queued ones and those whose lease ran out.
    sa.Index("ix_jobs_status_run_after", "status", "run_after"),
    sa.Index("ix_jobs_kind_status_priority", "kind", "status", "priority"),
    sa.Index("ix_jobs_kind_status_locked_until", "kind", "status", "locked_until"),
    sa.Index("ix_jobs_organization_id_kind_ref_status", "organization_id", "kind", "ref", "status"),
)
