"""Fixtures of an app whose server-side LLM calls (judges, experiment cells) reach the local fake
provider (the one external system the tests fake), on the parametrized database, called in-process over
HTTP. A conftest imports them: ``from support.provider_app import client, fake, settings``."""

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
def fake() -> Iterator[FakeProvider]:
    with running_fake_provider() as provider:
        yield provider


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake: FakeProvider) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        key_cache_seconds=0,
        provider_urls={"openai": fake.url, "anthropic": fake.url, "openrouter": fake.url},
        provider_keys={"openai": "sk-fake-openai", "anthropic": "sk-fake-anthropic"},
        python_eval_timeout_seconds=5,
        job_max_attempts=2,
    )


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=engine)) as test_client:
        yield test_client
