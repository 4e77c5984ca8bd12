"""The schema, identical on SQLite and PostgreSQL (Alembic migrations create it; see migrations/).

Layout choices that keep rows narrow, because disk per logged call is a product target:
- Organizations get a small integer key used everywhere inside; their UUID is only the public name.
- Times are integer epoch milliseconds (span times: nanoseconds): 8 bytes at most, compared and bucketed
  the same way on both dialects.
- Bodies live apart from ``requests`` so scans and counts never touch them.
- Trace and span ids are raw bytes (16 and 8), not hex text.
- A request's UUID is its public name, unique within its organization only, so one tenant's ids never
  block another's; child rows (bodies, properties, scores, spans) point at its integer ``seq``
  instead, so they and their indexes carry 4 bytes instead of 16 — and on SQLite ``request_bodies``
  is keyed by that integer, which makes it a rowid table with no extra index.
"""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.types import BigIntKey, CompressedText, UUIDType

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("uuid", UUIDType(), nullable=False, unique=True),
    sa.Column("name", sa.Text(), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("organization_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    # Hex SHA-256 of "Bearer <key>", the same hash Helicone stores, so keys could be migrated over.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.Text(), nullable=False),
    sa.Column("permissions", sa.String(2), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("revoked_at", sa.BigInteger(), nullable=True),
    sa.CheckConstraint("permissions IN ('r', 'w', 'rw')", name="permissions"),
)

# People who sign in to the web UI (keys are for programs). Emails are stored lower-cased and are unique
# across organizations, so an email names one account. ``password_hash`` is argon2id (None until the
# member sets one: the first-start admin signs in with a one-time link). ``session_epoch`` is in every
# signed session cookie; bumping it (password change, removal, role change) ends every session at once.
# ``sign_in_nonce`` is the one pending one-time sign-in link; using it clears it.
members = sa.Table(
    "members",
    metadata,
    sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("organization_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("email", sa.Text(), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text(), nullable=True),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("session_epoch", sa.BigInteger(), nullable=False),
    sa.Column("sign_in_nonce", sa.Text(), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'member', 'viewer')", name="role"),
)

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("seq", BigIntKey, primary_key=True, autoincrement=True),
    sa.Column("id", UUIDType(), nullable=False),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("response_created_at", sa.BigInteger(), nullable=True),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("provider", sa.Text(), nullable=False, server_default=""),
    sa.Column("model", sa.Text(), nullable=False, server_default=""),
    sa.Column("request_model", sa.Text(), nullable=True),
    sa.Column("response_model", sa.Text(), nullable=True),
    sa.Column("model_override", sa.Text(), nullable=True),
    sa.Column("path", sa.Text(), nullable=True),
    sa.Column("target_url", sa.Text(), nullable=True),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("latency", sa.BigInteger(), nullable=True),
    sa.Column("time_to_first_token", sa.BigInteger(), nullable=True),
    sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
    sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
    sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("prompt_cache_read_tokens", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("prompt_cache_write_tokens", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("prompt_audio_tokens", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("completion_audio_tokens", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("tokens_estimated", sa.Boolean(), nullable=False, server_default=sa.false()),
    # USD x 1e9, so sums are exact integers.
    sa.Column("cost", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("user_id", sa.Text(), nullable=True),
    sa.Column("session_id", sa.Text(), nullable=True),
    sa.Column("session_path", sa.Text(), nullable=True),
    sa.Column("session_name", sa.Text(), nullable=True),
    sa.Column("prompt_id", sa.Text(), nullable=True),
    sa.Column("prompt_version", sa.Text(), nullable=True),
    sa.Column("cache_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("cache_reference_id", UUIDType(), nullable=True),
    sa.Column("country_code", sa.Text(), nullable=True),
    sa.Column("request_referrer", sa.Text(), nullable=True),
    sa.Column("threat", sa.Boolean(), nullable=True),
    sa.Column("is_passthrough_billing", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("trace_id", sa.LargeBinary(16), nullable=True),
    sa.Column("span_id", sa.LargeBinary(8), nullable=True),
    sa.Column("api_key_id", sa.BigInteger(), nullable=True),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False, server_default="0"),
    # Ids are chosen by clients (Helicone-Request-Id, async logs): unique per organization, so another
    # organization's log with the same id is stored too instead of being skipped as a duplicate. Every
    # lookup by id is scoped by organization, and this index serves it.
    sa.UniqueConstraint("organization_id", "id"),
    sa.Index("ix_requests_org_created", "organization_id", "created_at"),
    sa.Index("ix_requests_org_model_created", "organization_id", "model", "created_at"),
    sa.Index("ix_requests_org_user_created", "organization_id", "user_id", "created_at"),
    # A session's requests (its detail, its first request, its users).
    sa.Index("ix_requests_org_session_created", "organization_id", "session_id", "created_at"),
)

# One compressed document per request: "<request body>\n<response body>\n<span attributes>" (JSON texts,
# which never contain a raw newline; an absent part is empty). One frame compresses far better than
# three small ones, and the span attributes of an LLM call mostly repeat what its bodies say.
# See payloads.py.
request_bodies = sa.Table(
    "request_bodies",
    metadata,
    sa.Column("request_seq", BigIntKey, primary_key=True, autoincrement=False),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("payload", CompressedText(), nullable=False),
)

request_properties = sa.Table(
    "request_properties",
    metadata,
    sa.Column("request_seq", sa.BigInteger(), primary_key=True),
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    # A copy of requests.created_at so "latest N with property k=v" is one index range scan.
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_request_properties_lookup", "organization_id", "key", "value", "created_at"),
    # Small rows keyed by the request's seq, which grows: they live in the key's B-tree (migration 0019).
    sqlite_with_rowid=False,
)

scores = sa.Table(
    "scores",
    metadata,
    sa.Column("request_seq", sa.BigInteger(), primary_key=True),
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("value", sa.BigInteger(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_scores_org_key", "organization_id", "key"),
    sqlite_with_rowid=False,
)

# Resource and instrumentation scope of spans, stored once and referenced by a 63-bit content hash:
# every span of a process repeats the same resource attributes.
span_resources = sa.Table(
    "span_resources",
    metadata,
    sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("service_name", sa.Text(), nullable=True),
    sa.Column("resource", CompressedText(), nullable=False),
    sa.Column("scope", CompressedText(), nullable=False),
)

# Keyed in time order, so new spans append to the key (on SQLite the rows live in it: WITHOUT ROWID)
# instead of landing at a random page, as a key starting with the random trace id made them (issue 17;
# migration 0018 says what each structure serves). A re-sent span has the same start time, so the key
# still makes its insert a no-op.
spans = sa.Table(
    "spans",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("trace_id", sa.LargeBinary(16), nullable=False),
    sa.Column("span_id", sa.LargeBinary(8), nullable=False),
    sa.Column("parent_span_id", sa.LargeBinary(8), nullable=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("kind", sa.SmallInteger(), nullable=False),
    sa.Column("start_time", sa.BigInteger(), nullable=False),
    sa.Column("end_time", sa.BigInteger(), nullable=False),
    sa.Column("status_code", sa.SmallInteger(), nullable=False),
    sa.Column("status_message", sa.Text(), nullable=True),
    sa.Column("resource_id", sa.BigInteger(), nullable=True),
    # The request row this span produced (LLM spans only). Its attributes then live in that request's
    # payload, next to the bodies they largely repeat, and ``attributes`` is NULL.
    sa.Column("request_seq", sa.BigInteger(), nullable=True),
    sa.Column("attributes", CompressedText(), nullable=True),
    # Events, links, trace state, flags and dropped counts: rarely present, kept as one document.
    sa.Column("extra", CompressedText(), nullable=True),
    # Listing traces newest first walks the key backwards (trace_repo.py).
    sa.PrimaryKeyConstraint("organization_id", "start_time", "trace_id", "span_id"),
    # A trace's spans in order, one span, a trace's first span and its root: the parent is in the
    # index, so finding the earliest span without a parent reads no table rows, even in a trace of
    # tens of thousands of spans.
    sa.Index("ix_spans_org_trace", "organization_id", "trace_id", "start_time", "span_id", "parent_span_id"),
    sqlite_with_rowid=False,
)

# Prompts (Helicone's legacy prompt_v2 / prompts_versions / prompt_input_keys / prompt_input_record).
# JSON documents (templates, metadata, inputs) are stored as JSON text: the same on both dialects, and
# a NUL escaped inside a JSON string ("\u0000") is fine in a PostgreSQL text column but not in jsonb.
prompts = sa.Table(
    "prompts",
    metadata,
    sa.Column("id", UUIDType(), primary_key=True),
    sa.Column("organization_id", sa.BigInteger(), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("user_defined_id", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, server_default=""),
    sa.Column("pretty_name", sa.Text(), nullable=False, server_default=""),
    sa.Column("meta", sa.Text(), nullable=False, server_default="{}"),
    # The one production version. A column rather than a flag on each version, so "at most one
    # production version per prompt" holds by construction and promoting is a single UPDATE.
    sa.Column("production_version_id", UUIDType(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.UniqueConstraint("organization_id", "user_defined_id"),
)

prompt_versions = sa.Table(
    "prompt_versions",
    metadata,
    sa.Column("id", UUIDType(), primary_key=True),
    sa.Column("prompt_id", UUIDType(), sa.ForeignKey("prompts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column("major_version", sa.Integer(), nullable=False),
    sa.Column("minor_version", sa.Integer(), nullable=False),
    sa.Column("template", sa.Text(), nullable=False),
    # SHA-256 of the template without its auto-input placeholders (see prompt_template.shape_hash):
    # traffic finds the version of a template by it, without loading every version's template.
    sa.Column("shape_hash", sa.String(64), nullable=False),
    sa.Column("model", sa.Text(), nullable=False, server_default=""),
    sa.Column("meta", sa.Text(), nullable=False, server_default="{}"),
    sa.Column("parent_version_id", UUIDType(), nullable=True),
    sa.Column("experiment_id", UUIDType(), nullable=True),
    # Deleted versions are kept (hidden) so their numbers are never handed out again and the input
    # records that point at them stay readable by request id.
    sa.Column("deleted_at", sa.BigInteger(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    # Two writers can never hand out the same number: the loser of a race retries.
    sa.UniqueConstraint("prompt_id", "major_version", "minor_version"),
)

prompt_input_keys = sa.Table(
    "prompt_input_keys",
    metadata,
    sa.Column(
        "version_id",
        UUIDType(),
        sa.ForeignKey("prompt_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)

# One row per request that filled a version's inputs (Helicone's prompt_input_record).
prompt_inputs = sa.Table(
    "prompt_inputs",
    metadata,
    sa.Column("id", UUIDType(), primary_key=True),
    sa.Column("organization_id", sa.BigInteger(), nullable=False),
    sa.Column(
        "version_id", UUIDType(), sa.ForeignKey("prompt_versions.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("request_id", UUIDType(), nullable=True),
    sa.Column("inputs", sa.Text(), nullable=False),
    sa.Column("auto_inputs", sa.Text(), nullable=False, server_default="[]"),
    sa.Column("experiment_id", UUIDType(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_prompt_inputs_version_created", "version_id", "created_at"),
    sa.Index("ix_prompt_inputs_org_request", "organization_id", "request_id"),
)

# Session tags (Helicone's ClickHouse ``tags`` with entity_type 'session'): one row per (session, tag),
# its time refreshed when the tag is set again, so "the most recent tag" is the newest row.
session_tags = sa.Table(
    "session_tags",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), primary_key=True),
    sa.Column("session_id", sa.Text(), primary_key=True),
    sa.Column("tag", sa.Text(), primary_key=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    # The session_tag filter leaf looks sessions up by tag.
    sa.Index("ix_session_tags_org_tag", "organization_id", "tag"),
)

# Property keys an organization hid from its property lists (POST /v1/property/hide).
hidden_property_keys = sa.Table(
    "hidden_property_keys",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), primary_key=True),
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)

# Pre-aggregated request statistics per organization, hour (epoch ms of its start, UTC), model, provider
# and status: sums and counts from which the unfiltered metrics are built (request_rollups.py). The
# batching writer updates them in the transaction that inserts the requests, so they are never stale.
request_rollups = sa.Table(
    "request_rollups",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), primary_key=True),
    sa.Column("hour", sa.BigInteger(), primary_key=True),
    sa.Column("model", sa.Text(), primary_key=True),
    sa.Column("provider", sa.Text(), primary_key=True),
    sa.Column("status", sa.Integer(), primary_key=True),
    sa.Column("requests", sa.BigInteger(), nullable=False),
    sa.Column("cost", sa.BigInteger(), nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
    sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
    sa.Column("latency_sum", sa.BigInteger(), nullable=False),
    sa.Column("latency_count", sa.BigInteger(), nullable=False),
    sa.Column("ttft_sum", sa.BigInteger(), nullable=False),
    sa.Column("ttft_count", sa.BigInteger(), nullable=False),
    sa.Column("threats", sa.BigInteger(), nullable=False),
    # Upserted for every batch: a WITHOUT ROWID table is one B-tree to search and update, not two.
    sqlite_with_rowid=False,
)

# Quantile sketches per organization, hour and metric (0 latency, 1 prompt, 2 completion, 3 total
# tokens): how many requests' values fall in each bin (metric_sketches.py), kept by the writer.
metric_sketches = sa.Table(
    "metric_sketches",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), primary_key=True),
    sa.Column("hour", sa.BigInteger(), primary_key=True),
    sa.Column("metric", sa.SmallInteger(), primary_key=True),
    sa.Column("bin", sa.Integer(), primary_key=True),
    sa.Column("count", sa.BigInteger(), nullable=False),
    # Covering: the unfiltered quantiles read one metric's bins over a range of hours.
    sa.Index("ix_metric_sketches_org_metric_hour", "organization_id", "metric", "hour", "bin", "count"),
    # Upserted for every batch: a WITHOUT ROWID table is one B-tree to search and update, not two.
    sqlite_with_rowid=False,
)

# Per-session totals per hour of activity and per-user totals per UTC day (group_rollups.py), kept by
# the writer; the session and user lists read them for the whole hours (days) of their window.
session_rollups = sa.Table(
    "session_rollups",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), primary_key=True),
    sa.Column("hour", sa.BigInteger(), primary_key=True),
    sa.Column("session_id", sa.Text(), primary_key=True),
    # "" when the session has no name (Helicone's reading of a missing property).
    sa.Column("session_name", sa.Text(), primary_key=True),
    sa.Column("requests", sa.BigInteger(), nullable=False),
    sa.Column("cost", sa.BigInteger(), nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
    sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
    sa.Column("latency_sum", sa.BigInteger(), nullable=False),
    sa.Column("latency_count", sa.BigInteger(), nullable=False),
    sa.Column("first_at", sa.BigInteger(), nullable=False),
    sa.Column("last_at", sa.BigInteger(), nullable=False),
    # Upserted for every batch: a WITHOUT ROWID table is one B-tree to search and update, not two.
    sqlite_with_rowid=False,
)

user_rollups = sa.Table(
    "user_rollups",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), primary_key=True),
    sa.Column("day", sa.BigInteger(), primary_key=True),
    sa.Column("user_id", sa.Text(), primary_key=True),
    sa.Column("requests", sa.BigInteger(), nullable=False),
    sa.Column("cost", sa.BigInteger(), nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
    sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
    sa.Column("first_at", sa.BigInteger(), nullable=False),
    sa.Column("last_at", sa.BigInteger(), nullable=False),
    # Upserted for every batch: a WITHOUT ROWID table is one B-tree to search and update, not two.
    sqlite_with_rowid=False,
)

# Per property value and hour, the components of the metrics (property_rollups.py), kept by the writer
# and by property updates; keyed value first, so one value's month is one index range.
property_rollups = sa.Table(
    "property_rollups",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), primary_key=True),
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("value", sa.Text(), primary_key=True),
    sa.Column("hour", sa.BigInteger(), primary_key=True),
    *(
        sa.Column(name, sa.BigInteger(), nullable=False)
        for name in (
            "requests",
            "cost",
            "prompt_tokens",
            "completion_tokens",
            "latency_sum",
            "latency_count",
            "series_latency_sum",
            "series_latency_count",
            "ttft_sum",
            "ttft_count",
            "threats",
            "errors",
        )
    ),
    # Upserted for every batch: a WITHOUT ROWID table is one B-tree to search and update, not two.
    sqlite_with_rowid=False,
)

# How many scores of each value each key has per organization and hour of the scored requests
# (score_rollups.py), kept by the writer and by score updates.
score_rollups = sa.Table(
    "score_rollups",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), primary_key=True),
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("hour", sa.BigInteger(), primary_key=True),
    sa.Column("value", sa.BigInteger(), primary_key=True),
    sa.Column("count", sa.BigInteger(), nullable=False),
    sa.Index("ix_score_rollups_org_hour", "organization_id", "hour"),
    # Upserted for every batch: a WITHOUT ROWID table is one B-tree to search and update, not two.
    sqlite_with_rowid=False,
)

# Requests per organization, hour and country (the dashboard's countries panel), kept by the writer.
country_rollups = sa.Table(
    "country_rollups",
    metadata,
    sa.Column("organization_id", sa.BigInteger(), primary_key=True),
    sa.Column("hour", sa.BigInteger(), primary_key=True),
    sa.Column("country_code", sa.Text(), primary_key=True),
    sa.Column("requests", sa.BigInteger(), nullable=False),
    # Upserted for every batch: a WITHOUT ROWID table is one B-tree to search and update, not two.
    sqlite_with_rowid=False,
)

# Datasets, evaluators, experiments and the job queue live in modules of their own on this metadata;
# imported last because they import ``metadata`` from here.
from heliograph.storage import alert_tables as _alert_tables  # noqa: E402,F401
from heliograph.storage import dataset_tables as _dataset_tables  # noqa: E402,F401
from heliograph.storage import evaluation_tables as _evaluation_tables  # noqa: E402,F401
from heliograph.storage import experiment_tables as _experiment_tables  # noqa: E402,F401
from heliograph.storage import redaction_tables as _redaction_tables  # noqa: E402,F401
from heliograph.storage import retention_tables as _retention_tables  # noqa: E402,F401
from heliograph.storage import table_experiment_tables as _table_experiment_tables  # noqa: E402,F401
from heliograph.storage import webhook_tables as _webhook_tables  # noqa: E402,F401
