"""Retention on both databases: the policy API, and the sweep with an injected clock. Requests older than
the request period go with everything derived from them and the statistics stay exactly those of the
requests kept; bodies older than the body period go while their requests and metrics stay, including
requests logged later with an old timestamp (a backfill); the server's defaults apply to organizations
without a policy."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.settings import Settings
from heliograph.storage import tables as stored
from support.analytics import DAY_MS, post
from support.http import auth
from support.lifecycle import (
    ManualClock,
    async_log,
    organization_id,
    rollups,
    settle_periodic_jobs,
    stored_bodies,
)


@pytest.fixture
def app_client(
    database_url: str, tmp_path: Path, engine: sa.Engine, clock: ManualClock
) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", key_cache_seconds=0)
    with TestClient(create_app(settings, db=engine, clock=clock)) as client:
        settle_periodic_jobs(client.app)
        yield client


def _log(client: TestClient, key: str, ages_in_days: list[float], user: str, now: int) -> list[str]:
    ids = []
    for age in ages_in_days:
        request_id = str(uuid.uuid4())
        body = async_log(int(now - age * DAY_MS), user, request_id)
        response = client.post("/v1/trace/custom/log", json=body, headers=auth(key))
        assert response.status_code == 200, response.text
        ids.append(request_id)
    return ids


def test_the_policy_api(app_client: TestClient, make_key: Any) -> None:
    key, reader = make_key("acme"), make_key("acme", permissions="r")
    answer = app_client.get("/v1/retention", headers=auth(reader)).json()["data"]
    assert answer == {
        "requestDays": None,
        "bodyDays": None,
        "custom": False,
        "defaults": {"requestDays": None, "bodyDays": None},
    }
    changed = app_client.put("/v1/retention", json={"requestDays": 30, "bodyDays": 7}, headers=auth(key))
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["custom"] is True
    assert app_client.get("/v1/retention", headers=auth(reader)).json()["data"]["bodyDays"] == 7
    for body, needle in (
        ({"requestDays": 7, "bodyDays": 30}, "bodyDays"),
        ({"requestDays": 0, "bodyDays": None}, "requestDays"),
        ({"requestDays": None, "bodyDays": 100_000}, "bodyDays"),
        ({"requestDays": "x", "bodyDays": None}, "requestDays"),
        ({"requestDays": 3}, "bodyDays"),
    ):
        refused = app_client.put("/v1/retention", json=body, headers=auth(key))
        assert refused.status_code in (400, 422), refused.text
        assert needle in refused.text
    assert (
        app_client.put(
            "/v1/retention", json={"requestDays": 1, "bodyDays": 1}, headers=auth(reader)
        ).status_code
        == 401
    )
    reset = app_client.delete("/v1/retention", headers=auth(key)).json()["data"]
    assert reset["custom"] is False
    assert reset["requestDays"] is None


def test_the_sweep_deletes_old_requests_and_expires_oldstored_bodies(
    app_client: TestClient, make_key: Any, engine: sa.Engine, clock: ManualClock
) -> None:
    key, twin = make_key("acme"), make_key("twin")
    now = clock.now
    old = _log(app_client, key, [50, 45, 31], "old", now)
    middle = _log(app_client, key, [20, 10, 8], "middle", now)
    young = _log(app_client, key, [3, 1], "young", now)
    _log(app_client, twin, [20, 10, 8, 3, 1], "kept", now)  # what acme keeps, with ids of its own
    org, twin_id = organization_id(engine, "acme"), organization_id(engine, "twin")
    post(app_client, key, "/v1/request/count/query", {"filter": "all"})
    assert (
        app_client.put(
            "/v1/retention", json={"requestDays": 30, "bodyDays": 7}, headers=auth(key)
        ).status_code
        == 200
    )

    result = app_client.app.state.heliograph.retention.sweep()  # type: ignore[attr-defined]
    assert (result.requests, result.bodies, result.finished) == (3, 3, True)
    assert post(app_client, key, "/v1/request/count/query", {"filter": "all"}) == 5
    with engine.connect() as conn:
        gone = [uuid.UUID(value) for value in old]
        assert (
            conn.execute(sa.select(sa.func.count()).where(stored.requests.c.id.in_(gone))).scalar_one() == 0
        )
    assert stored_bodies(engine, org) == 2  # the young ones'
    # Rollups equal those of an organization that logged only the kept requests (user names differ).
    mine, theirs = rollups(engine, org), rollups(engine, twin_id)
    for name in (
        "request_rollups",
        "metric_sketches",
        "property_rollups",
        "country_rollups",
        "score_rollups",
    ):
        assert mine[name] == theirs[name], name
    kept = app_client.get(f"/v1/request/{middle[0]}", headers=auth(key)).json()["data"]
    assert kept["request_id"] == middle[0]

    # Nothing more to do: a second sweep deletes nothing.
    again = app_client.app.state.heliograph.retention.sweep()  # type: ignore[attr-defined]
    assert (again.requests, again.bodies) == (0, 0)
    # A backfill: logged now with an old timestamp, its body expires at the next sweep.
    late = _log(app_client, key, [9], "late", now)
    assert stored_bodies(engine, org) == 3
    clock.now += DAY_MS
    swept = app_client.app.state.heliograph.retention.sweep()  # type: ignore[attr-defined]
    assert swept.bodies == 1 + 0  # the backfill (the young ones are 2 and 4 days old now)
    assert stored_bodies(engine, org) == 2
    assert app_client.get(f"/v1/request/{late[0]}", headers=auth(key)).status_code == 200
    assert young


def test_server_defaults_apply_until_an_organization_sets_its_own(
    database_url: str, tmp_path: Path, engine: sa.Engine, make_key: Any, clock: ManualClock
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        key_cache_seconds=0,
        retention_days=5,
        body_retention_days=2,
    )
    with TestClient(create_app(settings, db=engine, clock=clock)) as client:
        key, keeper = make_key("acme"), make_key("keeper")
        # The keeper's own policy first: the sweep queued at start may run at any moment.
        assert (
            client.put(
                "/v1/retention", json={"requestDays": None, "bodyDays": None}, headers=auth(keeper)
            ).status_code
            == 200
        )
        _log(client, key, [6, 3, 1], "u", clock.now)
        _log(client, keeper, [6, 3, 1], "u", clock.now)
        shown = client.get("/v1/retention", headers=auth(key)).json()["data"]
        assert shown["requestDays"] == 5
        assert shown["custom"] is False
        # The sweep queued at start may have run already: the state is what counts.
        client.app.state.heliograph.retention.sweep()  # type: ignore[attr-defined]
        assert stored_bodies(engine, organization_id(engine, "acme")) == 1
        assert stored_bodies(engine, organization_id(engine, "keeper")) == 3
        assert post(client, key, "/v1/request/count/query", {"filter": "all"}) == 2
        assert post(client, keeper, "/v1/request/count/query", {"filter": "all"}) == 3


def test_the_periodic_job_runs_the_sweep(app_client: TestClient, make_key: Any, clock: ManualClock) -> None:
    """The sweep is a durable job: queued at start by the Periodic, run by its pool."""
    key = make_key("acme")
    _log(app_client, key, [40], "u", clock.now)
    assert (
        app_client.put(
            "/v1/retention", json={"requestDays": 30, "bodyDays": None}, headers=auth(key)
        ).status_code
        == 200
    )
    context = app_client.app.state.heliograph  # type: ignore[attr-defined]
    context.retention.continue_sweep()  # what the Periodic does every interval
    for _ in range(200):
        if post(app_client, key, "/v1/request/count/query", {"filter": "all"}) == 0:
            break
        time.sleep(0.05)
    assert post(app_client, key, "/v1/request/count/query", {"filter": "all"}) == 0
