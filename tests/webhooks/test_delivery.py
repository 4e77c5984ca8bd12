"""Delivery of logged requests to a local receiver on both databases: the signed payload of a request
logged through the API, retries with backoff after failures (driven by the injected clock and a drained
worker pool), final failures, sampling and property filters, and isolation between organizations."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.jobs import JobQueue, WorkerPool
from heliograph.jobs.queue import Job
from heliograph.services.webhooks.planner import DELIVERY_KIND
from heliograph.services.webhooks.service import WebhookService
from heliograph.settings import Settings
from heliograph.storage.evaluation_tables import jobs
from jobs import ManualClock
from support.http import auth

from .support import BOUND_SECONDS, Receiver, add_webhook, call, log_chat

# A pool that only works when drained: its regular poll never comes within a test.
NEVER = 120.0


@pytest.fixture
def manual(settings: Settings, engine: sa.Engine, clock: ManualClock) -> Iterator[TestClient]:
    """The app with no delivery workers of its own: the test drains a pool itself."""
    quiet = settings.model_copy(update={"webhook_workers": 0})
    with TestClient(create_app(quiet, db=engine, clock=clock)) as test_client:
        yield test_client


def _service(client: TestClient) -> WebhookService:
    service: WebhookService = client.app.state.heliograph.webhooks  # type: ignore[attr-defined]
    return service


def _drain(client: TestClient, engine: sa.Engine, clock: ManualClock) -> None:
    """Run every delivery that is due now, to its end, with the app's own handler."""

    async def run() -> None:
        queue = JobQueue(engine, clock=clock)
        pool = WorkerPool(queue, {DELIVERY_KIND: _service(client).run_job}, concurrency=2, poll_seconds=NEVER)
        pool.start()
        try:
            assert await pool.drain(BOUND_SECONDS)
        finally:
            await pool.close()

    asyncio.run(run())


def _jobs(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(jobs.c.status, jobs.c.attempts, jobs.c.last_error, jobs.c.subject, jobs.c.ref)
            .where(jobs.c.kind == DELIVERY_KIND)
            .order_by(jobs.c.id)
        )
        return [dict(row._mapping) for row in rows]


def _deliveries(client: TestClient, key: str, webhook_id: str) -> list[dict[str, Any]]:
    return list(call(client, key, "GET", f"/v1/webhooks/{webhook_id}/deliveries"))


def test_a_logged_request_reaches_the_receiver_signed(
    client: TestClient, key: str, receiver: Receiver
) -> None:
    """Through the app's own worker pool, woken by the ingest writer."""
    webhook_id = add_webhook(client, key, receiver.url)
    hmac_key = call(client, key, "GET", "/v1/webhooks")[0]["hmac_key"]
    request_id = log_chat(client, key, user="user-7", env="prod")
    [got] = receiver.wait_for(1)

    # The documented recipe (docs/webhooks.md).
    expected = hmac.new(hmac_key.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["helicone-signature"], expected)
    assert got.headers["content-type"] == "application/json"
    payload = json.loads(got.body)
    assert list(payload) == [
        "request_id",
        "request_body",
        "response_body",
        "user_id",
        "request_response_url",
        "model",
        "provider",
        "metadata",
    ]
    assert payload["request_id"] == request_id
    assert payload["request_body"]["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert payload["response_body"]["choices"][0]["message"]["content"] == "Paris"
    assert payload["user_id"] == "user-7"
    assert payload["model"] == "gpt-4o"
    assert payload["provider"] == "OPENAI"
    metadata = payload["metadata"]
    assert (metadata["promptTokens"], metadata["completionTokens"], metadata["totalTokens"]) == (12, 3, 15)
    assert isinstance(metadata["cost"], float)
    assert metadata["cost"] > 0
    assert metadata["latencyMs"] == 1000
    # The link to the bodies works without a key.
    url = payload["request_response_url"]
    assert url.startswith("https://heliograph.example/v1/signed/request-body/")
    bodies = client.get(url.removeprefix("https://heliograph.example")).json()
    assert bodies["response"]["choices"][0]["message"]["content"] == "Paris"

    deadline = time.monotonic() + BOUND_SECONDS
    while not _deliveries(client, key, webhook_id) and time.monotonic() < deadline:
        time.sleep(0.02)  # the attempt is logged just after the receiver answered
    [logged] = _deliveries(client, key, webhook_id)
    assert logged["request_id"] == request_id
    assert (logged["attempt"], logged["status_code"], logged["error"], logged["test"]) == (
        1,
        200,
        None,
        False,
    )


def test_failures_are_retried_with_backoff_and_every_attempt_is_logged(
    manual: TestClient, key: str, receiver: Receiver, engine: sa.Engine, clock: ManualClock
) -> None:
    webhook_id = add_webhook(manual, key, receiver.url)
    receiver.statuses = [500]
    request_id = log_chat(manual, key)
    assert [(j["status"], j["subject"], j["ref"]) for j in _jobs(engine)] == [
        ("queued", request_id, webhook_id)
    ]

    _drain(manual, engine, clock)
    assert len(receiver.received) == 1
    [first] = _deliveries(manual, key, webhook_id)
    assert (first["attempt"], first["status_code"]) == (1, 500)
    assert first["error"] == "the destination answered 500 Internal Server Error"
    assert first["answer"] == "receiver says no"
    assert [(j["status"], j["attempts"]) for j in _jobs(engine)] == [("queued", 1)]

    # Not before its backoff (2 s, plus up to a quarter of jitter).
    clock.advance(1_999)
    _drain(manual, engine, clock)
    assert len(receiver.received) == 1
    clock.advance(501)
    _drain(manual, engine, clock)
    first_try, second_try = (json.loads(r.body) for r in receiver.wait_for(2))
    # The same payload, with a fresh link to the bodies (signed when the attempt is made).
    assert first_try.pop("request_response_url") != second_try.pop("request_response_url")
    assert first_try == second_try
    log = _deliveries(manual, key, webhook_id)
    assert [(d["attempt"], d["status_code"], d["error"]) for d in log] == [
        (2, 200, None),
        (1, 500, "the destination answered 500 Internal Server Error"),
    ]
    assert _jobs(engine) == []


def test_a_delivery_that_keeps_failing_ends_as_failed(
    manual: TestClient, key: str, receiver: Receiver, engine: sa.Engine, clock: ManualClock
) -> None:
    webhook_id = add_webhook(manual, key, receiver.url)
    receiver.statuses = [503, 429, 502]  # webhook_max_attempts is 3 in these tests
    log_chat(manual, key)
    for _ in range(3):
        _drain(manual, engine, clock)
        clock.advance(600_000)
    assert len(receiver.received) == 3
    assert [d["status_code"] for d in _deliveries(manual, key, webhook_id)] == [502, 429, 503]
    [job] = _jobs(engine)
    assert (job["status"], job["attempts"]) == ("failed", 3)
    assert job["last_error"] == "the destination answered 502 Bad Gateway"


def test_a_refusal_is_final(
    manual: TestClient, key: str, receiver: Receiver, engine: sa.Engine, clock: ManualClock
) -> None:
    """A 4xx other than 408, 425 and 429 would refuse the same bytes again: no retry."""
    webhook_id = add_webhook(manual, key, receiver.url)
    receiver.statuses = [400]
    log_chat(manual, key)
    _drain(manual, engine, clock)
    clock.advance(600_000)
    _drain(manual, engine, clock)
    assert len(receiver.received) == 1
    assert [d["status_code"] for d in _deliveries(manual, key, webhook_id)] == [400]
    assert [(j["status"], j["attempts"]) for j in _jobs(engine)] == [("failed", 1)]


def test_unreachable_destinations_are_retried(
    manual: TestClient, key: str, engine: sa.Engine, clock: ManualClock
) -> None:
    import socket

    with socket.socket() as held:  # bound, never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        webhook_id = add_webhook(manual, key, f"http://127.0.0.1:{held.getsockname()[1]}/hook")
        log_chat(manual, key)
        _drain(manual, engine, clock)
    [logged] = _deliveries(manual, key, webhook_id)
    assert logged["status_code"] is None
    assert logged["error"].startswith("ConnectError")
    assert [(j["status"], j["attempts"]) for j in _jobs(engine)] == [("queued", 1)]


def test_sampling_and_property_filters_decide_which_requests_are_queued(
    manual: TestClient, key: str, receiver: Receiver, engine: sa.Engine, clock: ManualClock
) -> None:
    never = add_webhook(manual, key, receiver.url, sampleRate=0)
    prod = add_webhook(manual, key, receiver.url, propertyFilters=[{"key": "env", "value": "prod"}])
    # Exact and case-sensitive, as Helicone: the header Helicone-Property-Env is stored as "env".
    upper = add_webhook(manual, key, receiver.url, propertyFilters=[{"key": "Env", "value": "prod"}])
    log_chat(manual, key, env="dev")
    log_chat(manual, key)
    assert _jobs(engine) == []
    matching = log_chat(manual, key, Env="prod", team="a")
    assert [(j["ref"], j["subject"]) for j in _jobs(engine)] == [(prod, matching)]
    _drain(manual, engine, clock)
    assert [json.loads(r.body)["request_id"] for r in receiver.wait_for(1)] == [matching]
    assert _deliveries(manual, key, never) == []
    assert _deliveries(manual, key, upper) == []


def test_without_include_data_only_the_ids_bodies_and_user_are_sent(
    manual: TestClient, key: str, receiver: Receiver, engine: sa.Engine, clock: ManualClock
) -> None:
    add_webhook(manual, key, receiver.url, includeData=False)
    request_id = log_chat(manual, key)
    _drain(manual, engine, clock)
    payload = json.loads(receiver.wait_for(1)[0].body)
    assert list(payload) == ["request_id", "request_body", "response_body"]
    assert payload["request_id"] == request_id
    assert payload["request_body"]["model"] == "gpt-4o"


def test_other_organizations_requests_are_not_delivered(
    manual: TestClient, make_key: Any, receiver: Receiver, engine: sa.Engine, clock: ManualClock
) -> None:
    ours, theirs = make_key("acme"), make_key("globex")
    add_webhook(manual, ours, receiver.url)
    log_chat(manual, theirs)
    assert _jobs(engine) == []
    mine = log_chat(manual, ours)
    _drain(manual, engine, clock)
    assert [json.loads(r.body)["request_id"] for r in receiver.wait_for(1)] == [mine]


def test_deleting_a_webhook_drops_its_waiting_deliveries(
    manual: TestClient, key: str, receiver: Receiver, engine: sa.Engine, clock: ManualClock
) -> None:
    webhook_id = add_webhook(manual, key, receiver.url)
    log_chat(manual, key)
    assert len(_jobs(engine)) == 1
    assert manual.delete(f"/v1/webhooks/{webhook_id}", headers=auth(key)).status_code == 201
    assert _jobs(engine) == []
    log_chat(manual, key)
    assert _jobs(engine) == []
    _drain(manual, engine, clock)
    assert receiver.received == []


def test_a_job_whose_webhook_is_gone_ends_quietly(manual: TestClient, key: str, receiver: Receiver) -> None:
    """A job claimed while its webhook is deleted (at least once delivery) does nothing."""
    job = Job(
        id=1,
        organization_id=1,
        kind=DELIVERY_KIND,
        ref=None,
        subject=None,
        payload={"webhookId": str(uuid.uuid4()), "requestId": str(uuid.uuid4())},
        attempts=1,
        max_attempts=3,
        created_at=0,
    )
    asyncio.run(_service(manual).run_job(job))
    assert receiver.received == []
