"""The planner (which requests each webhook takes, at what cost to ingest), the payload and signature,
and the retry rule, on real databases where they touch one."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from heliograph.records import RequestRecord
from heliograph.services.webhooks.config import parse
from heliograph.services.webhooks.payload import encode, request_payload, sign
from heliograph.services.webhooks.planner import DELIVERY_KIND, REFRESH_MS, WebhookPlanner
from heliograph.services.webhooks.service import retryable
from heliograph.storage import webhook_repo
from heliograph.storage.evaluation_tables import jobs
from heliograph.storage.request_repo import StoredRequest
from heliograph.storage.tables import organizations
from heliograph.storage.webhook_tables import webhook_deliveries

NOW = 1_760_000_000_000


class Draws:
    """A scripted random source: the sample draws the planner makes, in order."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


def _org(engine: sa.Engine, make_key: Any, name: str) -> int:
    make_key(name)
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(organizations.c.id).where(organizations.c.name == name)).scalar_one()
        )


def _webhook(engine: sa.Engine, org: int, **config: Any) -> str:
    webhook_id = str(uuid.uuid4())
    with engine.begin() as conn:
        webhook_repo.insert(
            conn,
            {
                "id": webhook_id,
                "organization_id": org,
                "created_at": NOW,
                "destination": "https://example.com/hook",
                "version": "2024-10-22",
                "config": parse(config, None).stored(),
                "hmac_key": "0" * 64,
            },
        )
    return webhook_id


def _record(org: int, **properties: str) -> RequestRecord:
    return RequestRecord(
        id=uuid.uuid4(), organization_id=org, created_at=NOW, source="async", properties=properties
    )


def _plan(engine: sa.Engine, planner: WebhookPlanner, records: list[RequestRecord], now: int = NOW) -> int:
    with engine.begin() as conn:
        return planner.plan(conn, records, now)


def _queued(engine: sa.Engine) -> list[tuple[str | None, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(jobs.c.ref, jobs.c.subject).where(jobs.c.kind == DELIVERY_KIND))
        return [(row.ref, row.subject) for row in rows]


@pytest.fixture
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Every statement the engine runs while the test looks."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", record)


def test_sample_rate_uses_the_injected_draws(engine: sa.Engine, make_key: Any) -> None:
    org = _org(engine, make_key, "acme")
    half = _webhook(engine, org, sampleRate=50)
    planner = WebhookPlanner(max_attempts=3, draw=Draws(0.49, 0.5, 0.0))
    records = [_record(org) for _ in range(3)]
    assert _plan(engine, planner, records) == 2
    assert _queued(engine) == [(half, str(records[0].id)), (half, str(records[2].id))]


def test_rates_of_0_and_100_never_draw(engine: sa.Engine, make_key: Any) -> None:
    org = _org(engine, make_key, "acme")
    always = _webhook(engine, org, sampleRate=100)
    _webhook(engine, org, sampleRate=0)
    planner = WebhookPlanner(max_attempts=3, draw=Draws(0.0))  # a 0 draw would fire Helicone's 0%
    record = _record(org)
    assert _plan(engine, planner, [record]) == 1
    assert _queued(engine) == [(always, str(record.id))]


def test_property_filters_are_exact_and_all_must_match(engine: sa.Engine, make_key: Any) -> None:
    org = _org(engine, make_key, "acme")
    both = _webhook(
        engine, org, propertyFilters=[{"key": "env", "value": "prod"}, {"key": "team", "value": "a"}]
    )
    planner = WebhookPlanner(max_attempts=3)
    taken = _record(org, env="prod", team="a", other="x")
    skipped = [
        _record(org, env="prod"),
        _record(org, env="Prod", team="a"),
        _record(org, ENV="prod", team="a"),
        _record(org, env="prod ", team="a"),
    ]
    assert _plan(engine, planner, [taken, *skipped]) == 1
    assert _queued(engine) == [(both, str(taken.id))]


def test_ingest_pays_one_small_query_per_refresh_and_none_without_change(
    engine: sa.Engine, make_key: Any, statements: list[str]
) -> None:
    org = _org(engine, make_key, "acme")
    planner = WebhookPlanner(max_attempts=3)
    statements.clear()
    assert _plan(engine, planner, [_record(org) for _ in range(50)]) == 0
    assert len([s for s in statements if "webhooks" in s]) == 1  # the fingerprint; no per-record query
    statements.clear()
    assert _plan(engine, planner, [_record(org) for _ in range(50)], NOW + REFRESH_MS - 1) == 0
    assert [s for s in statements if "webhooks" in s or "jobs" in s] == []
    # Another process's new webhook is seen at the next refresh.
    webhook_id = _webhook(engine, org)
    record = _record(org)
    assert _plan(engine, planner, [record], NOW + REFRESH_MS) == 1
    assert _queued(engine) == [(webhook_id, str(record.id))]


def test_a_change_through_this_process_applies_at_once(engine: sa.Engine, make_key: Any) -> None:
    org = _org(engine, make_key, "acme")
    planner = WebhookPlanner(max_attempts=3)
    assert _plan(engine, planner, [_record(org)]) == 0
    _webhook(engine, org)
    planner.invalidate()
    assert _plan(engine, planner, [_record(org)]) == 1


def test_other_organizations_webhooks_take_nothing(engine: sa.Engine, make_key: Any) -> None:
    acme, globex = _org(engine, make_key, "acme"), _org(engine, make_key, "globex")
    _webhook(engine, globex)
    assert _plan(engine, WebhookPlanner(max_attempts=3), [_record(acme)]) == 0


def test_the_delivery_log_keeps_the_newest_attempts(engine: sa.Engine, make_key: Any) -> None:
    org = _org(engine, make_key, "acme")
    webhook_id = _webhook(engine, org)
    with engine.begin() as conn:
        for attempt in range(1, 8):
            row = {
                "webhook_id": webhook_id,
                "organization_id": org,
                "request_id": str(uuid.uuid4()),
                "is_test": False,
                "attempt": attempt,
                "status_code": 200,
                "error": None,
                "duration_ms": 1,
                "answer": "",
                "created_at": NOW + attempt,
            }
            webhook_repo.add_delivery(conn, row, keep=3)
    with engine.connect() as conn:
        kept = conn.execute(sa.select(webhook_deliveries.c.attempt).order_by(webhook_deliveries.c.id))
        assert [attempt for (attempt,) in kept] == [5, 6, 7]


def _stored(**row: Any) -> StoredRequest:
    base = {
        "id": uuid.UUID("11111111-2222-4333-8444-555555555555"),
        "user_id": None,
        "model": "gpt-4o-mini",
        "model_override": None,
        "request_model": "gpt-4o-mini",
        "provider": "OPENAI",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost": 1_500,
        "latency": 321,
    }
    return StoredRequest(row=base | row, request_body='{"b":1,"a":2}', response_body=None)  # type: ignore[arg-type]


def test_payload_keys_order_and_compact_bytes() -> None:
    payload = request_payload(_stored(user_id="u"), include_data=True, body_url="https://h/x")
    assert encode(payload) == (
        b'{"request_id":"11111111-2222-4333-8444-555555555555","request_body":{"b":1,"a":2},'
        b'"response_body":{},"user_id":"u","request_response_url":"https://h/x","model":"gpt-4o-mini",'
        b'"provider":"OPENAI","metadata":{"cost":1.5e-6,"promptTokens":10,"completionTokens":5,'
        b'"totalTokens":15,"latencyMs":321}}'
    )
    assert orjson.loads(encode(payload))["metadata"]["cost"] == 1.5e-6


def test_payload_without_a_model_has_no_model_or_metadata() -> None:
    payload = request_payload(_stored(model="", request_model=None), include_data=True, body_url=None)
    assert list(payload) == ["request_id", "request_body", "response_body", "provider"]


def test_signature_is_the_hmac_of_the_exact_bytes_keyed_with_the_hex_text() -> None:
    key = "ab" * 32
    body = b'{"request_id":"x"}'
    assert sign(key, body) == hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    assert sign(key, body) != hmac.new(bytes.fromhex(key), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("status", "again"),
    [
        (None, True),
        (500, True),
        (503, True),
        (408, True),
        (425, True),
        (429, True),
        (400, False),
        (404, False),
        (410, False),
        (301, False),
    ],
)
def test_which_failures_are_retried(status: int | None, again: bool) -> None:
    assert retryable(status) is again
