"""The Alert API over HTTP on both databases: create, read, list, change and delete rules; every bad
field a 400 naming it with nothing written; private destinations refused unless allowed; one
organization never sees or touches another's rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.services.alerts.service import CHECK_KIND
from heliograph.settings import Settings
from heliograph.storage.evaluation_tables import jobs

from .conftest import ManualClock, call, refused, wait_for

HOOK = "https://hooks.example.com/alerts"


def _rule(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "Errors",
        "metric": "error_rate",
        "comparison": "gt",
        "threshold": 10,
        "window_seconds": 300,
        "minimum_request_count": 5,
        "destination_url": HOOK,
    }
    rule.update(changes)
    return {key: value for key, value in rule.items() if value is not ...}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Private destinations refused, as by default; no checks run (test_alert_checks.py has them)."""
    return Settings(
        database_url=database_url, data_dir=tmp_path / "data", key_cache_seconds=0, alert_workers=0
    )


def test_create_read_list_update_delete(client: TestClient, key: str, clock: ManualClock) -> None:
    created = call(client, key, "POST", "/v1/alerts", _rule(), status=201)
    assert created["name"] == "Errors"
    assert created["metric"] == "error_rate"
    assert created["aggregation"] is None
    assert created["format"] == "json"
    assert created["enabled"] is True
    assert created["state"] == "ok"
    assert created["last_checked_at"] is None
    assert created["filter"] is None
    alert_id = created["id"]
    assert call(client, key, "GET", f"/v1/alerts/{alert_id}") == created
    clock.advance(1000)
    latency = call(
        client, key, "POST", "/v1/alerts", _rule(name="Slow", metric="latency", threshold=2000), status=201
    )
    assert latency["aggregation"] == "avg"  # latency's default
    assert [rule["id"] for rule in call(client, key, "GET", "/v1/alerts")] == [latency["id"], alert_id]

    clock.advance(1000)
    tree = {"request_response_rmt": {"model": {"equals": "gpt-4o"}}}
    changed = call(
        client, key, "PATCH", f"/v1/alerts/{alert_id}", {"threshold": 25.5, "filter": tree, "format": "slack"}
    )
    assert (changed["threshold"], changed["filter"], changed["format"]) == (25.5, tree, "slack")
    assert changed["name"] == "Errors"  # untouched
    assert changed["updated_at"] > created["updated_at"]
    # A new metric other than latency drops the aggregation; latency gets its default back.
    assert (
        call(client, key, "PATCH", f"/v1/alerts/{latency['id']}", {"aggregation": "p99"})["aggregation"]
        == "p99"
    )
    assert (
        call(client, key, "PATCH", f"/v1/alerts/{latency['id']}", {"metric": "cost"})["aggregation"] is None
    )
    assert call(client, key, "PATCH", f"/v1/alerts/{alert_id}", {"filter": None})["filter"] is None

    assert call(client, key, "GET", f"/v1/alerts/{alert_id}/events") == []
    call(client, key, "DELETE", f"/v1/alerts/{alert_id}", status=204)
    assert refused(client, key, "GET", f"/v1/alerts/{alert_id}", None, 404) == f"no alert {alert_id}"
    refused(client, key, "GET", f"/v1/alerts/{alert_id}/events", None, 404)
    refused(client, key, "DELETE", f"/v1/alerts/{alert_id}", None, 404)
    refused(client, key, "PATCH", f"/v1/alerts/{alert_id}", {"threshold": 1}, 404)


BAD_FIELDS = [
    (_rule(name=...), "name: Field required"),
    (_rule(name="   "), "name"),
    (_rule(name=7), "name"),
    (_rule(metric="tokens"), "metric"),
    (_rule(metric="latency", aggregation="p90"), "aggregation"),
    (_rule(metric="cost", aggregation="avg"), "aggregation: only the latency metric"),
    (_rule(comparison="eq"), "comparison"),
    (_rule(threshold="high"), "threshold"),
    (_rule(threshold=True), "threshold"),
    (_rule(threshold=-1), "threshold: must not be negative"),
    (_rule(threshold=150), "threshold: error_rate is a percentage"),
    (_rule(window_seconds=0), "window_seconds"),
    (_rule(window_seconds=1.5), "window_seconds"),
    (_rule(window_seconds=10**9), "window_seconds"),
    (_rule(window_seconds=...), "window_seconds: Field required"),
    (_rule(minimum_request_count=-1), "minimum_request_count"),
    (_rule(filter={"request_response_rmt": {"no_such_field": {"equals": 1}}}), "filter: "),
    (_rule(filter=[1, 2]), "filter: "),
    (_rule(destination_url="ftp://example.com/x"), "destination_url: destination must be an http"),
    (_rule(destination_url="http://127.0.0.1:9/hook"), "destination_url: destination host '127.0.0.1'"),
    (_rule(destination_url="http://10.1.2.3/hook"), "HELIOGRAPH_ALLOW_PRIVATE_DESTINATIONS"),
    (_rule(destination_url=...), "destination_url: Field required"),
    (_rule(format="xml"), "format"),
    (_rule(enabled="yes"), "enabled"),
    (_rule(colour="red"), "colour: unknown field"),
]


@pytest.mark.parametrize(("body", "named"), BAD_FIELDS)
def test_every_bad_field_is_a_400_naming_it(
    client: TestClient, key: str, engine: sa.Engine, body: dict[str, Any], named: str
) -> None:
    assert named in refused(client, key, "POST", "/v1/alerts", body)
    assert call(client, key, "GET", "/v1/alerts") == []


def test_a_refused_update_changes_nothing(client: TestClient, key: str) -> None:
    created = call(client, key, "POST", "/v1/alerts", _rule(), status=201)
    path = f"/v1/alerts/{created['id']}"
    for body, named in [
        ({"threshold": 1, "comparison": "between"}, "comparison"),
        ({"name": "Renamed", "destination_url": "http://localhost/x"}, "destination_url"),
        ({"metric": "latency", "aggregation": "p42"}, "aggregation"),
        ({"window_seconds": None}, "window_seconds"),
        ({"id": str(uuid.uuid4())}, "id: unknown field"),
    ]:
        assert named in refused(client, key, "PATCH", path, body)
    assert call(client, key, "GET", path) == created


def test_malformed_ids_and_keys(client: TestClient, key: str, make_key: Any) -> None:
    assert "path.alertId" in refused(client, key, "GET", "/v1/alerts/not-a-uuid", None)
    reader = make_key(permissions="r")
    created = call(client, key, "POST", "/v1/alerts", _rule(), status=201)
    refused(client, reader, "POST", "/v1/alerts", _rule(), 401)
    refused(client, reader, "PATCH", f"/v1/alerts/{created['id']}", {"threshold": 1}, 401)
    refused(client, reader, "DELETE", f"/v1/alerts/{created['id']}", None, 401)
    assert call(client, reader, "GET", f"/v1/alerts/{created['id']}")["id"] == created["id"]
    assert client.get("/v1/alerts").status_code == 401


def test_organizations_are_isolated(client: TestClient, key: str, make_key: Any) -> None:
    other = make_key(org="globex")
    mine = call(client, key, "POST", "/v1/alerts", _rule(), status=201)
    theirs = call(client, other, "POST", "/v1/alerts", _rule(name="Theirs"), status=201)
    assert [rule["id"] for rule in call(client, key, "GET", "/v1/alerts")] == [mine["id"]]
    assert [rule["id"] for rule in call(client, other, "GET", "/v1/alerts")] == [theirs["id"]]
    path = f"/v1/alerts/{theirs['id']}"
    refused(client, key, "GET", path, None, 404)
    refused(client, key, "GET", path + "/events", None, 404)
    refused(client, key, "PATCH", path, {"threshold": 1}, 404)
    refused(client, key, "DELETE", path, None, 404)
    assert call(client, other, "GET", path) == theirs


def test_private_destinations_when_allowed(settings: Settings, engine: sa.Engine, key: str) -> None:
    allowed = settings.model_copy(update={"allow_private_destinations": True})
    with TestClient(create_app(allowed, db=engine)) as client:
        wait_for(lambda: _queued_checks(engine))
        body = _rule(destination_url="http://127.0.0.1:9/hook")
        assert (
            call(client, key, "POST", "/v1/alerts", body, status=201)["destination_url"]
            == body["destination_url"]
        )


@pytest.fixture
def client(settings: Settings, engine: sa.Engine, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=engine, clock=clock)) as test_client:
        # The check the server queues as it starts (no worker runs it here) is written before the test
        # goes on, so no write of it is under way when the server stops.
        wait_for(lambda: _queued_checks(engine))
        yield test_client


def _queued_checks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(jobs.c.kind == CHECK_KIND)).scalar_one())
