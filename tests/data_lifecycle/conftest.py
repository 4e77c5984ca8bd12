"""An app per test, on the parametrized database, called in-process over HTTP (TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.settings import Settings
from support.analytics import BASE_MS, DAY_MS
from support.lifecycle import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """40 days after the analytics fixtures' base time: old enough data to expire."""
    return ManualClock(BASE_MS + 40 * DAY_MS)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # key_cache_seconds=0: revocations take effect at once, so tests need not wait for the cache.
    return Settings(database_url=database_url, data_dir=tmp_path / "data", key_cache_seconds=0)


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    app = create_app(settings, db=engine)
    with TestClient(app) as test_client:
        yield test_client
