"""Alert checks with an injected clock, on both databases: requests logged at chosen times push a rule
over its threshold; it fires once, stays quiet while it stays over, and resolves once when the window
has moved past them. Each change is posted to a local receiver (JSON, or Slack's message shape), a
failed post is retried and its outcome recorded, and a rule's filter limits the requests it counts."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.settings import Settings
from heliograph.storage.metric_queries import quantile
from support.analytics import BASE_MS, Call, iso, log_calls

from .conftest import ManualClock, Receiver, call, wait_for

SECOND = 1000


def _create(client: TestClient, key: str, receiver: Receiver, **rule: Any) -> str:
    body = {"name": "Alert", "window_seconds": 300, "destination_url": receiver.url, **rule}
    return str(call(client, key, "POST", "/v1/alerts", body, status=201)["id"])


def _check_soon(client: TestClient) -> None:
    """Queue a check now, as the page's "Check now" does (it also wakes the pool for due retries)."""
    client.app.state.heliograph.alerts.check_soon()  # type: ignore[attr-defined]


def _checked(client: TestClient, key: str, alert_id: str, clock: ManualClock) -> dict[str, Any]:
    """The rule once a check ran at the clock's current time."""
    return wait_for(lambda: _checked_now(client, key, alert_id, clock))  # type: ignore[no-any-return]


def _checked_now(client: TestClient, key: str, alert_id: str, clock: ManualClock) -> dict[str, Any] | None:
    rule = call(client, key, "GET", f"/v1/alerts/{alert_id}")
    if rule["last_checked_at"] == iso(clock.now):
        return rule  # type: ignore[no-any-return]
    # A check that was already running may have read the clock before the test moved it.
    _check_soon(client)
    return None


def _events(client: TestClient, key: str, alert_id: str) -> list[dict[str, Any]]:
    return call(client, key, "GET", f"/v1/alerts/{alert_id}/events")  # type: ignore[no-any-return]


def _delivered(client: TestClient, key: str, alert_id: str, count: int) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        _check_soon(client)
        events = _events(client, key, alert_id)
        finished = [e for e in events if e["delivery"]["status"] == "delivered"]
        return events if len(events) == count and len(finished) == count else None

    return wait_for(done)  # type: ignore[no-any-return]


def test_error_rate_fires_once_and_resolves_once(
    client: TestClient, key: str, clock: ManualClock, receiver: Receiver
) -> None:
    alert_id = _create(
        client,
        key,
        receiver,
        name="Error spike",
        metric="error_rate",
        comparison="gt",
        threshold=50,
        minimum_request_count=4,
    )
    log_calls(client, key, [Call(at=BASE_MS - 60 * SECOND) for _ in range(3)])
    clock.advance(SECOND)  # a check at a time after the logs were written
    quiet = _checked(client, key, alert_id, clock)
    assert (quiet["state"], quiet["last_value"], quiet["last_request_count"]) == ("ok", 0.0, 3)

    # Four errors of seven requests: 57% > 50%.
    log_calls(client, key, [Call(at=BASE_MS + 10 * SECOND, status=500) for _ in range(4)])
    clock.advance(30 * SECOND)
    firing = _checked(client, key, alert_id, clock)
    assert firing["state"] == "firing"
    assert firing["last_value"] == pytest.approx(400 / 7)
    assert firing["state_changed_at"] == iso(clock.now)
    [fired] = _delivered(client, key, alert_id, 1)
    assert fired["kind"] == "fired"
    assert (fired["value"], fired["request_count"], fired["threshold"]) == (pytest.approx(400 / 7), 7, 50)
    assert fired["window_start"] == iso(clock.now - 300 * SECOND)
    assert fired["window_end"] == iso(clock.now)
    assert fired["delivery"]["http_status"] == 200
    assert fired["delivery"]["attempts"] == 1
    assert fired["delivery"]["error"] is None

    # Still over: later checks record what they see but notify nothing.
    clock.advance(60 * SECOND)
    assert _checked(client, key, alert_id, clock)["state"] == "firing"
    clock.advance(SECOND)
    assert _checked(client, key, alert_id, clock)["state"] == "firing"
    assert len(_events(client, key, alert_id)) == 1

    # The window moves past the errors; five good requests keep the minimum count.
    log_calls(client, key, [Call(at=BASE_MS + 350 * SECOND) for _ in range(5)])
    clock.now = BASE_MS + 400 * SECOND
    resolved_rule = _checked(client, key, alert_id, clock)
    assert (resolved_rule["state"], resolved_rule["last_value"]) == ("ok", 0.0)
    resolved, first = _delivered(client, key, alert_id, 2)
    assert (resolved["kind"], first["id"]) == ("resolved", fired["id"])
    assert (resolved["value"], resolved["request_count"]) == (0.0, 5)
    clock.advance(SECOND)
    _checked(client, key, alert_id, clock)
    assert len(_events(client, key, alert_id)) == 2

    bodies = receiver.bodies()
    assert [body["type"] for body in bodies] == ["alert.fired", "alert.resolved"]
    assert bodies[0]["event_id"] == fired["id"]
    assert bodies[0]["state"] == "firing"
    assert bodies[0]["value"] == pytest.approx(400 / 7)
    assert bodies[0]["request_count"] == 7
    assert bodies[0]["alert"]["id"] == alert_id
    assert bodies[0]["alert"]["metric"] == "error_rate"
    assert bodies[0]["alert"]["threshold"] == 50
    assert bodies[0]["summary"].startswith("[FIRING] Error spike: 57.14%")
    assert bodies[1]["state"] == "resolved"
    assert bodies[1]["summary"].startswith("[RESOLVED] Error spike")
    assert receiver.received[0].headers["content-type"] == "application/json"
    assert receiver.received[0].headers["x-heliograph-event"] == "alert.fired"


def test_a_slack_rule_posts_a_slack_message(
    client: TestClient, key: str, clock: ManualClock, receiver: Receiver
) -> None:
    alert_id = _create(
        client,
        key,
        receiver,
        name="Traffic",
        metric="request_count",
        comparison="gte",
        threshold=3,
        format="slack",
    )
    log_calls(client, key, [Call(at=BASE_MS - i * SECOND) for i in range(3)])
    clock.advance(SECOND)
    assert _checked(client, key, alert_id, clock)["state"] == "firing"
    _delivered(client, key, alert_id, 1)
    [message] = receiver.bodies()
    assert set(message) == {"text", "blocks"}
    assert message["text"].startswith("[FIRING] Traffic: 3 (request count ≥ 3 over 5 min, 3 requests)")
    assert message["blocks"][0]["type"] == "header"
    assert "Firing: Traffic" in message["blocks"][0]["text"]["text"]
    fields = message["blocks"][1]["fields"]
    assert all(item["type"] == "mrkdwn" for item in fields)
    assert "*Value*\n3" in [item["text"] for item in fields]


def test_a_failed_post_is_retried_and_its_outcome_recorded(
    client: TestClient, key: str, clock: ManualClock, receiver: Receiver
) -> None:
    receiver.failing = 1
    alert_id = _create(client, key, receiver, metric="cost", comparison="gt", threshold=0.002)
    log_calls(client, key, [Call(at=BASE_MS - SECOND, cost=0.001) for _ in range(3)])
    clock.advance(SECOND)
    assert _checked(client, key, alert_id, clock)["last_value"] == pytest.approx(0.003)
    [retrying] = wait_for(
        lambda: [e for e in _events(client, key, alert_id) if e["delivery"]["status"] == "retrying"]
    )
    assert retrying["delivery"]["http_status"] == 500
    assert retrying["delivery"]["attempts"] == 1
    assert "500" in retrying["delivery"]["error"]
    # The retry waits out its backoff on the injected clock.
    clock.advance(10 * SECOND)
    [delivered] = _delivered(client, key, alert_id, 1)
    assert delivered["delivery"]["attempts"] == 2
    assert delivered["delivery"]["http_status"] == 200
    assert delivered["delivery"]["delivered_at"] == iso(clock.now)
    assert delivered["delivery"]["error"] is None
    bodies = receiver.bodies()
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]  # the same event, posted again


def test_a_destination_that_keeps_failing_ends_as_failed(
    client: TestClient, key: str, clock: ManualClock, receiver: Receiver
) -> None:
    receiver.failing = 100
    # A day's window: the clock moves past each backoff while the rule stays firing.
    alert_id = _create(client, key, receiver, metric="request_count", threshold=0, window_seconds=86_400)
    log_calls(client, key, [Call(at=BASE_MS - SECOND)])

    def failed() -> dict[str, Any] | None:
        events = _events(client, key, alert_id)
        if events and events[0]["delivery"]["status"] == "failed":
            return events[0]
        clock.advance(20 * SECOND)  # past each backoff (2 s, then 4 s, a quarter more at most)
        _check_soon(client)
        return None

    event = wait_for(failed)
    assert event["delivery"]["attempts"] == 3  # job_max_attempts
    assert event["delivery"]["http_status"] == 500
    assert len(receiver.received) == 3


def test_filters_limit_the_requests_counted(
    client: TestClient, key: str, clock: ManualClock, receiver: Receiver
) -> None:
    prod_only = {"request_response_rmt": {"properties": {"env": {"equals": "prod"}}}}
    mini_only = {"request_response_rmt": {"model": {"equals": "gpt-4o-mini"}}}
    by_property = _create(client, key, receiver, metric="request_count", threshold=2, filter=prod_only)
    by_model = _create(client, key, receiver, metric="request_count", threshold=2, filter=mini_only)
    everything = _create(client, key, receiver, metric="request_count", threshold=2)
    at = BASE_MS - SECOND
    log_calls(
        client,
        key,
        [
            Call(at=at, properties={"env": "prod"}),
            Call(at=at, properties={"env": "prod"}, model="gpt-4o-mini"),
            Call(at=at, properties={"env": "prod"}),
            Call(at=at, properties={"env": "dev"}, model="gpt-4o-mini"),
        ],
    )
    clock.advance(SECOND)
    assert _checked(client, key, by_property, clock)["last_request_count"] == 3
    assert _checked(client, key, by_property, clock)["state"] == "firing"
    assert _checked(client, key, by_model, clock)["last_request_count"] == 2
    assert _checked(client, key, by_model, clock)["state"] == "ok"  # 2 is not > 2
    assert _checked(client, key, everything, clock)["last_request_count"] == 4


def test_latency_aggregations_and_the_minimum_count(
    client: TestClient, key: str, clock: ManualClock, receiver: Receiver
) -> None:
    latencies = [100, 200, 300, 400, 5000]
    log_calls(client, key, [Call(at=BASE_MS - SECOND, latency=ms) for ms in latencies])
    average = _create(client, key, receiver, metric="latency", threshold=1000)
    p95 = _create(client, key, receiver, metric="latency", aggregation="p95", threshold=1000)
    p50 = _create(client, key, receiver, metric="latency", aggregation="p50", threshold=1000)
    strict = _create(client, key, receiver, metric="latency", threshold=1, minimum_request_count=6)
    assert _checked(client, key, average, clock)["last_value"] == pytest.approx(1200)
    assert _checked(client, key, average, clock)["state"] == "firing"
    found = _checked(client, key, p95, clock)
    assert found["last_value"] == pytest.approx(quantile(latencies, 0.95))
    assert found["state"] == "firing"
    assert _checked(client, key, p50, clock)["last_value"] == pytest.approx(300)
    assert _checked(client, key, p50, clock)["state"] == "ok"
    # Over its threshold, but five requests are fewer than its minimum of six.
    assert _checked(client, key, strict, clock)["state"] == "ok"


def test_organizations_count_only_their_own_requests(
    client: TestClient, key: str, make_key: Any, clock: ManualClock, receiver: Receiver
) -> None:
    other = make_key(org="globex")
    log_calls(client, other, [Call(at=BASE_MS - SECOND) for _ in range(5)])
    mine = _create(client, key, receiver, metric="request_count", threshold=0)
    assert _checked(client, key, mine, clock)["last_request_count"] == 0
    assert _checked(client, key, mine, clock)["state"] == "ok"


def test_a_disabled_rule_is_not_checked(
    client: TestClient, key: str, clock: ManualClock, receiver: Receiver
) -> None:
    log_calls(client, key, [Call(at=BASE_MS - SECOND)])
    paused = _create(client, key, receiver, metric="request_count", threshold=0, enabled=False)
    watched = _create(client, key, receiver, metric="request_count", threshold=0)
    assert _checked(client, key, watched, clock)["state"] == "firing"
    clock.advance(SECOND)
    _checked(client, key, watched, clock)
    rule = call(client, key, "GET", f"/v1/alerts/{paused}")
    assert (rule["state"], rule["last_checked_at"]) == ("ok", None)
    assert _events(client, key, paused) == []


def test_the_periodic_check_runs_at_start(
    settings: Settings, engine: sa.Engine, key: str, clock: ManualClock, receiver: Receiver
) -> None:
    """With no one asking, the server checks every enabled rule when it starts (and every interval)."""
    with TestClient(create_app(settings, db=engine, clock=clock)) as client:
        alert_id = _create(client, key, receiver, metric="request_count", threshold=0)
        log_calls(client, key, [Call(at=BASE_MS - SECOND)])
    clock.advance(SECOND)
    with TestClient(create_app(settings, db=engine, clock=clock)) as client:
        wait_for(
            lambda: call(client, key, "GET", f"/v1/alerts/{alert_id}")["last_checked_at"] == iso(clock.now)
        )
        assert call(client, key, "GET", f"/v1/alerts/{alert_id}")["state"] == "firing"
        _delivered(client, key, alert_id, 1)
