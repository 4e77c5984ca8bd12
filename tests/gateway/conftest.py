"""A gateway app per test (in-process, on the parametrized database) in front of a local fake provider."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.dev.fake_provider import FakeProvider, running_fake_provider
from heliograph.settings import Settings

GatewayFactory = Callable[..., TestClient]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as fake:
        yield fake


@pytest.fixture
def gateway_factory(
    database_url: str, tmp_path: Path, engine: sa.Engine, provider: FakeProvider
) -> Iterator[GatewayFactory]:
    """Builds (and finally stops) gateway apps; keyword arguments override settings."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        urls = dict.fromkeys(("openai", "anthropic", "groq", "google", "mistral"), provider.url)
        urls.update(overrides.pop("provider_urls", {}))  # a test may aim a route elsewhere
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path / "data",
            key_cache_seconds=0,
            provider_urls=urls,
            **overrides,
        )
        client = TestClient(create_app(settings, db=engine))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> TestClient:
    return gateway_factory()


def wait_for_log(client: TestClient, key: str, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The logged request, once the gateway's background write has committed it."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(
            f"/v1/request/{request_id}?includeBody=true", headers={"authorization": f"Bearer {key}"}
        )
        if response.status_code == 200 and response.json().get("data"):
            data: dict[str, Any] = response.json()["data"]
            return data
        if time.monotonic() > deadline:
            raise AssertionError(
                f"request {request_id} was not logged: {response.status_code} {response.text}"
            )
        time.sleep(0.02)
