"""An app per test on the parametrized database, its gateway in front of a local fake provider (the
one external system the tests fake), called in-process over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.dev.fake_provider import FakeProvider, running_fake_provider
from heliograph.settings import Settings


@pytest.fixture(scope="session")
def provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as fake:
        yield fake


@pytest.fixture
def settings(database_url: str, tmp_path: Path, provider: FakeProvider) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        key_cache_seconds=0,
        provider_urls=dict.fromkeys(("openai", "anthropic"), provider.url),
    )


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=engine)) as test_client:
        yield test_client
