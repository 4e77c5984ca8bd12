"""Operator metrics at /metrics: scraped over HTTP after real traffic (ingest, gateway, a failed job),
parsed with prometheus-client's own parser, on both databases."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from gateway.conftest import wait_for_log
from heliograph.app import HeliographApp, create_app
from heliograph.clock import system_clock
from heliograph.dev.fake_provider import FakeProvider, running_fake_provider
from heliograph.jobs.queue import NewJob, enqueue
from heliograph.services.evaluators.online import ONLINE_KIND
from heliograph.settings import Settings
from heliograph.storage import keys_repo
from support.http import auth
from support.otlp import export, openllmetry_chat, span

CHAT = "/v1/gateway/oai/v1/chat/completions"
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is 2+2?"}]}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
AppFactory = Callable[..., TestClient]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as fake:
        yield fake


@pytest.fixture
def app_factory(
    database_url: str, tmp_path: Path, engine: sa.Engine, provider: FakeProvider
) -> Iterator[AppFactory]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path / "data",
            key_cache_seconds=0,
            provider_urls={"openai": provider.url},
            **overrides,
        )
        client = TestClient(create_app(settings, db=engine))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def gateway_call(client: TestClient, key: str, headers: dict[str, str]) -> Any:
    return client.post(
        CHAT,
        headers={"Helicone-Auth": f"Bearer {key}", "authorization": "Bearer sk-provider", **headers},
        json=BODY,
    )


def settle_cache_saves(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, HeliographApp)
    assert app.gateway is not None
    deadline = time.monotonic() + 5
    while app.gateway.background:
        assert time.monotonic() < deadline, "cache save did not finish"
        time.sleep(0.005)


def log_traffic(client: TestClient, key: str) -> None:
    message = {
        "log": {
            "request": {
                "id": str(uuid.uuid4()),
                "provider": "OPENAI",
                "path": "/v1/chat/completions",
                "requestCreatedAt": "2025-01-01T00:00:00.000Z",
            },
            "response": {"status": 200, "model": "gpt-4o", "delayMs": 10},
        },
    }
    assert client.post("/v1/log/request", json=message, headers=auth(key)).status_code == 200
    # Two LLM spans: four records (each span, and the request each becomes).
    trace = export(span(openllmetry_chat()), span(openllmetry_chat(prompt="again")))
    assert client.post("/v1/traces", json=trace, headers=auth(key)).status_code == 200


def gateway_traffic(client: TestClient, key: str) -> list[str]:
    """A cache miss then a hit, then a rate limit of one call a minute passed once and refused once."""
    cache = {"Helicone-Cache-Enabled": "true"}
    miss = gateway_call(client, key, cache)
    assert miss.headers["helicone-cache"] == "MISS"
    settle_cache_saves(client)
    hit = gateway_call(client, key, cache)
    assert hit.headers["helicone-cache"] == "HIT"
    policy = {"Helicone-RateLimit-Policy": "1;w=60"}
    allowed, refused = gateway_call(client, key, policy), gateway_call(client, key, policy)
    assert (allowed.status_code, refused.status_code) == (200, 429)
    return [response.headers["helicone-id"] for response in (miss, hit, allowed, refused)]


def queue_failing_job(engine: sa.Engine) -> None:
    """An online evaluation naming no request: its handler raises, and with one attempt it fails."""
    with engine.begin() as conn:
        org = keys_repo.find_organization(conn, "acme")
        assert org is not None
        job = NewJob(organization_id=org.id, kind=ONLINE_KIND, payload={"evaluatorId": "missing"})
        enqueue(conn, [job], system_clock(), max_attempts=1)


def scrape_until(client: TestClient, done: Callable[[Samples], bool], timeout: float = 15.0) -> Samples:
    """The worker pool claims new jobs at its next poll (2 s): scrape until the figures show it."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(client)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def test_metrics_move_with_ingest_gateway_and_jobs(
    app_factory: AppFactory, key: str, engine: sa.Engine
) -> None:
    client = app_factory(metrics_enabled=True, writer_max_pending=1234)
    before = scrape(client)
    assert value(before, "heliograph_ingest_records_total", source="log") == 0
    assert value(before, "heliograph_jobs", kind=ONLINE_KIND, status="failed") == 0  # present at 0

    log_traffic(client, key)
    ids = gateway_traffic(client, key)
    for request_id in ids:
        wait_for_log(client, key, request_id)
    queue_failing_job(engine)
    samples = scrape_until(
        client, lambda found: value(found, "heliograph_jobs", kind=ONLINE_KIND, status="failed") == 1
    )

    assert value(samples, "heliograph_ingest_records_total", source="log") == 1
    assert value(samples, "heliograph_ingest_records_total", source="otlp") == 4
    assert value(samples, "heliograph_ingest_records_total", source="gateway") == 4
    assert value(samples, "heliograph_ingest_ack_seconds_count", source="log") == 1
    assert value(samples, "heliograph_ingest_ack_seconds_count", source="otlp") == 1
    assert value(samples, "heliograph_ingest_ack_seconds_sum", source="otlp") > 0

    assert value(samples, "heliograph_writer_pending_records") == 0
    assert value(samples, "heliograph_writer_max_pending_records") == 1234
    # Every record went through the writer: 1 log message, 4 OTLP records, 4 gateway logs.
    assert value(samples, "heliograph_writer_batch_records_sum") == 9
    assert value(samples, "heliograph_writer_commit_seconds_count") >= 1
    assert value(samples, "heliograph_writer_failed_records_total") == 0

    assert value(samples, "heliograph_gateway_calls_total", provider="OPENAI", status="200") == 3
    assert value(samples, "heliograph_gateway_calls_total", provider="OPENAI", status="429") == 1
    assert value(samples, "heliograph_gateway_cache_lookups_total", result="hit") == 1
    assert value(samples, "heliograph_gateway_cache_lookups_total", result="miss") == 1
    assert value(samples, "heliograph_gateway_rate_limited_total", unit="request") == 1
    # Latency is split only for the two calls that went upstream (not the hit, not the refusal).
    assert value(samples, "heliograph_gateway_added_seconds_count") == 2
    assert value(samples, "heliograph_gateway_upstream_seconds_count", phase="headers") == 2
    assert value(samples, "heliograph_gateway_upstream_seconds_count", phase="end") == 2
    assert value(samples, "heliograph_gateway_upstream_seconds_sum", phase="headers") > 0

    assert value(samples, "heliograph_jobs", kind=ONLINE_KIND, status="failed") == 1
    assert value(samples, "heliograph_jobs", kind=ONLINE_KIND, status="queued") == 0
    assert value(samples, "heliograph_job_attempts_total", kind=ONLINE_KIND, outcome="failed") == 1
    assert value(samples, "process_cpu_seconds_total") > 0


def test_metrics_are_off_by_default(app_factory: AppFactory) -> None:
    client = app_factory()
    response = client.get("/metrics")
    assert response.status_code == 404
    assert client.get("/no-such-path").status_code == 404


def test_a_token_guards_the_metrics(app_factory: AppFactory, key: str) -> None:
    client = app_factory(metrics_enabled=True, metrics_token="s3cret-metrics-token")
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        auth(key),
        {"Authorization": "s3cret-metrics-token"},
    ):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert "HELIOGRAPH_METRICS_TOKEN" in refused.json()["error"]
        assert refused.headers["www-authenticate"] == "Bearer"
    samples = scrape(client, {"Authorization": "Bearer s3cret-metrics-token"})
    assert ("heliograph_writer_pending_records", frozenset()) in samples


def test_the_token_is_long_enough_and_masked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="metrics_token"):
        Settings(data_dir=tmp_path, metrics_token="short")
    settings = Settings(data_dir=tmp_path, metrics_token="s3cret-metrics-token")
    assert settings.masked()["metrics_token"] == "***"


def test_metrics_serve_a_gateway_only_server_and_stay_out_of_the_openapi_document(
    app_factory: AppFactory,
) -> None:
    client = app_factory(metrics_enabled=True, only="gateway")
    assert ("heliograph_writer_pending_records", frozenset()) in scrape(client)
    full = app_factory(metrics_enabled=True)
    assert "/metrics" not in full.get("/openapi.json").json()["paths"]
