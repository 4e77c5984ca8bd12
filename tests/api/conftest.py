"""An app per test, on the parametrized database, called in-process over HTTP (TestClient)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.clock import random_ids, system_clock
from heliograph.services.keys import create_key
from heliograph.settings import Settings

KeyFactory = Callable[..., str]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # key_cache_seconds=0: revocations take effect at once, so tests need not wait for the cache.
    return Settings(database_url=database_url, data_dir=tmp_path / "data", key_cache_seconds=0)


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    app = create_app(settings, db=engine)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def make_key(engine: sa.Engine) -> KeyFactory:
    def make(org: str = "acme", permissions: str = "rw", name: str = "test") -> str:
        key, _ = create_key(
            engine, organization=org, name=name, permissions=permissions, clock=system_clock, ids=random_ids
        )
        return key

    return make


@pytest.fixture
def key(make_key: KeyFactory) -> str:
    return make_key()
