"""One suite over both dialects: ``pytest --db sqlite|postgresql|all``.

SQLite tests get a fresh database file copied from a migrated template. PostgreSQL tests share one
migrated database per session (created and dropped here) and start from empty tables: every test
deletes what it finds, so no test depends on another's leftovers.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from heliograph.clock import new_ids, system_clock
from heliograph.services.keys import create_key
from heliograph.storage import migrate
from heliograph.storage.engine import create_engine
from heliograph.storage.tables import metadata

PG_ADMIN_URL = os.environ.get(
    "HELIOGRAPH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        action="store",
        default="sqlite",
        choices=("sqlite", "postgresql", "all"),
        help="database backends to run storage-touching tests against",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dialect" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        dialects = ["sqlite", "postgresql"] if chosen == "all" else [chosen]
        only = metafunc.definition.get_closest_marker("only_dialects")
        if only is not None:
            dialects = [name for name in dialects if name in only.args]
        metafunc.parametrize("dialect", dialects, scope="session")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as connection:
        # Fold the WAL into the main file so a plain copy carries the whole schema.
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = f"heliograph_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def database_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated database of the parametrized dialect."""
    if dialect == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "heliograph.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


REDIS_URL = os.environ.get("HELIOGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    """URL of the Redis server on this machine (CI starts it when it is down)."""
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    import redis

    prefix = f"heliograph-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


KeyFactory = Callable[..., str]


@pytest.fixture
def make_key(engine: sa.Engine) -> KeyFactory:
    def make(org: str = "acme", permissions: str = "rw", name: str = "test") -> str:
        key, _ = create_key(
            engine, organization=org, name=name, permissions=permissions, clock=system_clock, ids=new_ids
        )
        return key

    return make


@pytest.fixture
def key(make_key: KeyFactory) -> str:
    return make_key()
