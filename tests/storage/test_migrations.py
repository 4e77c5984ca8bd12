"""Alembic migrations: they go up and down cleanly, and the schema they build is exactly ``tables.metadata``.

Every test here runs on a database of its own (a new SQLite file, or a new PostgreSQL database), never
on the session's shared PostgreSQL database, because downgrading drops every table.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError

from heliograph.storage import migrate
from heliograph.storage.engine import create_engine
from heliograph.storage.tables import metadata, requests

APPLICATION_TABLES = frozenset(metadata.tables)


@pytest.fixture
def empty_engine(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on a brand-new database with no tables at all."""
    if dialect == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    # Any database of the test server can create another one; the session's is at hand.
    server_url: str = request.getfixturevalue("pg_database")
    name = f"heliograph_migrations_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = create_engine(sa.make_url(server_url).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _table_names(engine: sa.Engine) -> set[str]:
    # A fresh inspector each time: inspectors cache what they reflected.
    return set(sa.inspect(engine).get_table_names())


def _assert_base(engine: sa.Engine) -> None:
    assert _table_names(engine) <= {"alembic_version"}
    assert migrate.current_revision(engine) is None


def _assert_head(engine: sa.Engine) -> None:
    assert _table_names(engine) == APPLICATION_TABLES | {"alembic_version"}
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_migrations_go_up_down_up_down_up(empty_engine: sa.Engine) -> None:
    assert _table_names(empty_engine) == set()

    migrate.upgrade(empty_engine)
    _assert_head(empty_engine)

    migrate.downgrade(empty_engine, "base")
    _assert_base(empty_engine)

    migrate.upgrade(empty_engine)
    _assert_head(empty_engine)

    migrate.downgrade(empty_engine, "base")
    _assert_base(empty_engine)

    migrate.upgrade(empty_engine)
    _assert_head(empty_engine)
    assert migrate.head_revision() is not None


def _is_sqlite_empty_string_default_artifact(diff: Any, dialect: str) -> bool:
    """Alembic's SQLite default comparison cannot match an empty-string server default.

    The metadata renders ``server_default=""`` as the empty string, SQLite reflects it as ``('')``, and
    alembic's unquoting regex (``'(.+)'``) needs at least one character between the quotes, so it reports
    ``modify_default`` although the DDL reads ``DEFAULT ''`` exactly. Only that case is ignored: any other
    default, or a real difference in these columns' defaults, is still reported.
    """
    if dialect != "sqlite" or not isinstance(diff, tuple) or diff[0] != "modify_default":
        return False
    _, _, _, _, _, reflected, wanted = diff
    reflected_text = getattr(getattr(reflected, "arg", None), "text", None)
    return getattr(wanted, "arg", None) == "" and reflected_text in ("''", "('')")


def _schema_differences(engine: sa.Engine, target: sa.MetaData) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, target)
    # compare_metadata returns single diffs as tuples and column-level ones grouped in lists.
    flat = [item for diff in differences for item in (diff if isinstance(diff, list) else [diff])]
    return [diff for diff in flat if not _is_sqlite_empty_string_default_artifact(diff, engine.dialect.name)]


def test_migrated_schema_matches_table_metadata(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine)

    assert _schema_differences(empty_engine, metadata) == []


def test_schema_comparison_reports_drift(empty_engine: sa.Engine) -> None:
    """The comparison above (with its filter) would notice a missing or extra table, column or index, or a
    changed nullability."""
    migrate.upgrade(empty_engine)
    drifted = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.remove(drifted.tables["span_resources"])
    sa.Table("brand_new", drifted, sa.Column("id", sa.Integer(), primary_key=True))
    drifted.tables["requests"].append_column(sa.Column("brand_new_column", sa.Text(), nullable=True))
    drifted.tables["requests"].c.user_id.nullable = False
    sa.Index("ix_scores_value", drifted.tables["scores"].c.value)

    kinds = {diff[0] for diff in _schema_differences(empty_engine, drifted)}

    assert {"remove_table", "add_table", "add_column", "modify_nullable", "add_index"} <= kinds


@pytest.mark.only_dialects("sqlite")
def test_sqlite_database_uses_8k_pages_and_wal(dialect: str, tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()

    # A plain connection, without the engine's per-connection pragmas, reads what the file itself holds.
    connection = sqlite3.connect(path)
    try:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        journal_mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        auto_vacuum = connection.execute("PRAGMA auto_vacuum").fetchone()[0]
    finally:
        connection.close()
    assert page_size == 8192
    assert journal_mode.lower() == "wal"
    assert auto_vacuum == 2  # INCREMENTAL


@pytest.mark.only_dialects("sqlite")
def test_a_new_connection_opens_while_another_holds_the_write_lock(dialect: str, tmp_path: Path) -> None:
    """Opening a connection must not need the write lock: a backup or the writer's commit may hold it
    (the per-connection pragmas once asked for it and failed with 'database is locked')."""
    path = tmp_path / "held.db"
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM requests")).scalar_one() == 0
        engine.dispose()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


SHARED_ID = uuid.UUID("0b7e4f0a-3c2d-4e5f-8a9b-0c1d2e3f4a5b")


def _insert_request(engine: sa.Engine, organization_id: int, request_id: uuid.UUID) -> None:
    with engine.begin() as connection:
        connection.execute(
            requests.insert().values(
                id=request_id,
                organization_id=organization_id,
                created_at=1,
                updated_at=1,
                source="async",
                status=200,
            )
        )


def _owners(engine: sa.Engine) -> list[tuple[int, uuid.UUID]]:
    with engine.connect() as connection:
        query = sa.select(requests.c.organization_id, requests.c.id).order_by(requests.c.organization_id)
        return [(organization_id, request_id) for organization_id, request_id in connection.execute(query)]


def test_0003_makes_request_ids_unique_per_organization_and_keeps_rows(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine, "0002")
    _insert_request(empty_engine, 1, SHARED_ID)
    with pytest.raises(sa.exc.IntegrityError):
        _insert_request(empty_engine, 2, SHARED_ID)  # 0002: one id in the whole database

    migrate.upgrade(empty_engine, "0003")

    assert _owners(empty_engine) == [(1, SHARED_ID)]
    _insert_request(empty_engine, 2, SHARED_ID)
    assert _owners(empty_engine) == [(1, SHARED_ID), (2, SHARED_ID)]
    with pytest.raises(sa.exc.IntegrityError):
        _insert_request(empty_engine, 1, SHARED_ID)  # still unique within one organization


def test_0003_downgrade_refuses_while_two_organizations_share_an_id(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine, "0003")
    _insert_request(empty_engine, 1, SHARED_ID)
    _insert_request(empty_engine, 2, SHARED_ID)
    _insert_request(empty_engine, 2, uuid.uuid4())

    with pytest.raises(CommandError) as refused:
        migrate.downgrade(empty_engine, "0002")

    message = str(refused.value)
    assert "1 request id(s) are used by more than one organization" in message
    assert str(SHARED_ID) in message
    assert "Nothing was changed" in message
    assert migrate.current_revision(empty_engine) == "0003"
    assert len(_owners(empty_engine)) == 3

    with empty_engine.begin() as connection:
        connection.execute(
            requests.delete().where(requests.c.organization_id == 2, requests.c.id == SHARED_ID)
        )
    migrate.downgrade(empty_engine, "0002")

    assert migrate.current_revision(empty_engine) == "0002"
    assert (1, SHARED_ID) in _owners(empty_engine)
    with pytest.raises(sa.exc.IntegrityError):
        _insert_request(empty_engine, 2, SHARED_ID)  # unique across the database again


def test_0006_fills_rollups_and_sketches_from_stored_requests(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine, "0005")
    hour = 3_600_000
    rows = [
        # (organization, created_at, model, status, latency, prompt, completion, cost, ttft, threat)
        (1, 10 * hour + 5, "gpt-4o", 200, 120, 10, 5, 1000, 30, None),
        (1, 10 * hour + 9, "gpt-4o", 200, 380, 20, None, 2000, 0, True),
        (1, 11 * hour, "gpt-4o", 500, None, None, None, 0, None, False),
        (2, 10 * hour + 1, "claude-3", 200, 50_000, 7, 3, 5, 12, None),
    ]
    with empty_engine.begin() as connection:
        for org, created, model, status, latency, prompt, completion, cost, ttft, threat in rows:
            connection.execute(
                requests.insert().values(
                    id=uuid.uuid4(),
                    organization_id=org,
                    created_at=created,
                    updated_at=created,
                    source="async",
                    model=model,
                    status=status,
                    latency=latency,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    cost=cost,
                    time_to_first_token=ttft,
                    threat=threat,
                )
            )
    migrate.upgrade(empty_engine)

    with empty_engine.connect() as connection:
        rollups = connection.execute(
            sa.text(
                "SELECT organization_id, hour, model, status, requests, cost, prompt_tokens, "
                "completion_tokens, latency_sum, latency_count, ttft_sum, ttft_count, threats "
                "FROM request_rollups ORDER BY organization_id, hour, status"
            )
        ).all()
        sketches = connection.execute(
            sa.text(
                "SELECT organization_id, hour, metric, bin, count FROM metric_sketches "
                "ORDER BY organization_id, hour, metric, bin"
            )
        ).all()
    assert [tuple(row) for row in rollups] == [
        (1, 10 * hour, "gpt-4o", 200, 2, 3000, 30, 5, 500, 2, 30, 1, 1),
        (1, 11 * hour, "gpt-4o", 500, 1, 0, 0, 0, 0, 0, 0, 0, 0),
        (2, 10 * hour, "claude-3", 200, 1, 5, 7, 3, 50_000, 1, 12, 1, 0),
    ]
    from heliograph.storage.metric_sketches import bin_of

    assert [tuple(row) for row in sketches] == sorted(
        [
            (1, 10 * hour, 0, bin_of(120), 1),
            (1, 10 * hour, 0, bin_of(380), 1),
            (1, 10 * hour, 1, 10, 1),
            (1, 10 * hour, 1, 20, 1),
            (1, 10 * hour, 2, 5, 1),
            (1, 10 * hour, 3, 15, 1),
            (2, 10 * hour, 0, bin_of(50_000), 1),
            (2, 10 * hour, 1, 7, 1),
            (2, 10 * hour, 2, 3, 1),
            (2, 10 * hour, 3, 10, 1),
        ]
    )


def test_0007_fills_property_rollups(empty_engine: sa.Engine) -> None:
    from heliograph.storage.tables import request_properties

    migrate.upgrade(empty_engine, "0006")
    hour = 3_600_000
    with empty_engine.begin() as connection:
        for seq, (model, status, latency, cost) in enumerate(
            [("gpt-4o", 200, 100, 10), ("GPT-4O-BATCH", 500, 900, 20), ("gpt-4o", 200, None, 30)], start=1
        ):
            created = 5 * hour + seq
            connection.execute(
                requests.insert().values(
                    seq=seq,
                    id=uuid.uuid4(),
                    organization_id=1,
                    created_at=created,
                    updated_at=created,
                    source="async",
                    model=model,
                    status=status,
                    latency=latency,
                    cost=cost,
                )
            )
            connection.execute(
                request_properties.insert().values(
                    request_seq=seq,
                    key="env",
                    organization_id=1,
                    value="prod" if seq < 3 else "dev",
                    created_at=created,
                )
            )
        for seq, value in ((1, 4), (2, 4), (3, 9)):
            connection.execute(
                sa.text(
                    "INSERT INTO scores (request_seq, key, organization_id, value, created_at, updated_at) "
                    "VALUES (:seq, 'accuracy', 1, :value, 1, 1)"
                ),
                {"seq": seq, "value": value},
            )
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        counted = connection.execute(
            sa.text("SELECT key, hour, value, count FROM score_rollups ORDER BY value")
        ).all()
        found = connection.execute(
            sa.text(
                "SELECT value, hour, requests, cost, latency_sum, latency_count, series_latency_sum, "
                "series_latency_count, errors FROM property_rollups ORDER BY value"
            )
        ).all()
    assert [tuple(row) for row in found] == [
        ("dev", 5 * hour, 1, 30, 0, 0, 0, 0, 0),
        ("prod", 5 * hour, 2, 30, 1000, 2, 100, 1, 1),
    ]
    assert [tuple(row) for row in counted] == [("accuracy", 5 * hour, 4, 2), ("accuracy", 5 * hour, 9, 1)]


_SPAN_COLUMNS = (
    "organization_id, trace_id, span_id, parent_span_id, name, kind, start_time, end_time, status_code"
)


def _spans_as_stored(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        query = f"SELECT {_SPAN_COLUMNS} FROM spans ORDER BY organization_id, trace_id, span_id"
        return [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in connection.exec_driver_sql(query)
        ]


def test_0018_keys_spans_in_time_order_and_keeps_every_span(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine, "0017")
    rows = [
        (
            1,
            bytes([trace]) * 16,
            bytes([span]) * 8,
            None if span == 1 else bytes([1]) * 8,
            f"s{span}",
            1,
            start,
            start + 5,
            0,
        )
        for trace, span, start in [(9, 1, 300), (9, 2, 100), (3, 1, 200), (3, 2, 200), (7, 1, 50)]
    ]
    marks = ", ".join(["?" if empty_engine.dialect.name == "sqlite" else "%s"] * 9)
    with empty_engine.begin() as connection:
        for row in rows:
            connection.exec_driver_sql(f"INSERT INTO spans ({_SPAN_COLUMNS}) VALUES ({marks})", row)
    before = _spans_as_stored(empty_engine)

    migrate.upgrade(empty_engine)

    assert _spans_as_stored(empty_engine) == before
    with empty_engine.begin() as connection:
        # The same span sent again (same start) is still one row; the key now starts with the time.
        again = f"INSERT INTO spans ({_SPAN_COLUMNS}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        assert connection.exec_driver_sql(again, rows[0]).rowcount == 0
    inspector = sa.inspect(empty_engine)
    assert inspector.get_pk_constraint("spans")["constrained_columns"] == [
        "organization_id",
        "start_time",
        "trace_id",
        "span_id",
    ]
    assert {index["name"] for index in inspector.get_indexes("spans")} == {"ix_spans_org_trace"}

    migrate.downgrade(empty_engine, "0017")
    assert _spans_as_stored(empty_engine) == before
    assert {index["name"] for index in sa.inspect(empty_engine).get_indexes("spans")} == {
        "ix_spans_org_start",
        "ix_spans_org_roots",
    }


@pytest.mark.only_dialects("sqlite")
def test_0019_moves_properties_and_scores_into_their_keys(dialect: str, empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine, "0018")
    with empty_engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO request_properties (request_seq, key, organization_id, value, created_at) "
            "VALUES (1, 'env', 1, 'prod', 5), (2, 'env', 1, 'dev', 6)"
        )
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        for table in ("request_properties", "scores"):
            create = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).scalar_one()
            assert create.rstrip().endswith("WITHOUT ROWID")
        rows = connection.exec_driver_sql(
            "SELECT request_seq, value FROM request_properties ORDER BY 1"
        ).all()
        assert [tuple(row) for row in rows] == [(1, "prod"), (2, "dev")]
        indexes = {
            row[0]
            for row in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert "sqlite_autoindex_request_properties_1" not in indexes
        assert "ix_request_properties_lookup" in indexes
