"""Unfiltered score statistics (Evals, Dashboard) read the score rollups for whole hours and the rows
for a window's edges; a filter reads the rows. Both give the same answers, also after requests are
rescored, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.analytics import BASE_MS, HOUR_MS, Call, iso, log_calls, post
from support.http import auth

EVERYTHING = {"request_response_rmt": {"status": {"gte": -1000}}}


@pytest.fixture
def scored(client: TestClient, key: str) -> str:
    calls = [Call(BASE_MS + i * 17 * 60_000 + i) for i in range(40)]
    log_calls(client, key, calls)
    for index, call in enumerate(calls):
        scores: dict[str, Any] = {"accuracy": (index * 7) % 11, "helpful": index % 3 == 0}
        if index % 4 == 0:
            scores["latency-ok"] = 100 - index
        response = client.post(f"/v1/request/{call.id}/score", json={"scores": scores}, headers=auth(key))
        assert response.status_code == 201, response.text
    # Rescore a few: the rollups move their counts to the new values.
    for call in calls[::5]:
        response = client.post(
            f"/v1/request/{call.id}/score", json={"scores": {"accuracy": 42}}, headers=auth(key)
        )
        assert response.status_code == 201, response.text
    return key


@pytest.mark.parametrize(
    ("start", "end"),
    [(BASE_MS + 5 * 60_000 + 7, BASE_MS + 9 * HOUR_MS + 13), (BASE_MS - HOUR_MS, BASE_MS + 12 * HOUR_MS)],
)
def test_score_statistics_agree_between_rollups_and_rows(
    client: TestClient, scored: str, start: int, end: int
) -> None:
    window = {"start": iso(start), "end": iso(end)}
    for path in ("/v1/evals/query", "/v1/evals/score-distributions/query"):
        rolled = post(client, scored, path, {"filter": "all", "timeFilter": window})
        assert rolled, path
        assert rolled == post(client, scored, path, {"filter": EVERYTHING, "timeFilter": window}), path
    for unit, tz in (("hour", 0), ("day", 300), ("hour", -330)):
        body = {"timeFilter": window, "dbIncrement": unit, "timeZoneDifference": tz}
        rolled = post(client, scored, "/v1/dashboard/scores/query", {**body, "userFilter": "all"})
        rows = post(client, scored, "/v1/dashboard/scores/query", {**body, "userFilter": EVERYTHING})
        assert rolled == rows, (unit, tz)
    evals = {
        row["name"]: row
        for row in post(client, scored, "/v1/evals/query", {"filter": "all", "timeFilter": window})
    }
    assert evals["accuracy"]["maxScore"] == 42


def test_setting_a_score_or_property_to_its_value_again(client: TestClient, key: str) -> None:
    call = Call(BASE_MS, properties={"env": "prod"})
    log_calls(client, key, [call])
    for _ in range(2):
        response = client.post(f"/v1/request/{call.id}/feedback", json={"rating": False}, headers=auth(key))
        assert response.status_code == 201, response.text
        response = client.put(
            f"/v1/request/{call.id}/property", json={"key": "env", "value": "prod"}, headers=auth(key)
        )
        assert response.status_code == 201, response.text
    window = {"start": iso(BASE_MS - HOUR_MS), "end": iso(BASE_MS + 2 * HOUR_MS)}
    evals = post(client, key, "/v1/evals/query", {"filter": "all", "timeFilter": window})
    assert [(row["name"], row["count"]) for row in evals] == [("helicone-score-feedback", 1)]
    prod = {"request_response_rmt": {"properties": {"env": {"equals": "prod"}}}}
    assert post(client, key, "/v1/metrics/totalRequests", {"filter": prod, "timeFilter": window}) == 1
