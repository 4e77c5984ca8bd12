"""The Evals, Dashboard and Settings APIs over HTTP, on both databases, with exact answers on seeded
requests scored through ``POST /v1/request/{id}/score`` (and ``POST /v1/evals/{requestId}``)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.analytics import BASE_MS, DAY_MS, HOUR_MS, Call, iso, log_calls, post
from support.http import auth

MINUTE_MS = 60_000
# (call, scores): two keys, a boolean one; R4 carries team=b; R5 is outside every window; R6 has none.
SCORED = [
    (Call(BASE_MS + 70 * MINUTE_MS), {"accuracy": 80, "helpful": True}),
    (Call(BASE_MS + 110 * MINUTE_MS), {"accuracy": 90}),
    (Call(BASE_MS + 320 * MINUTE_MS), {"accuracy": 40, "helpful": False}),
    (Call(BASE_MS + 340 * MINUTE_MS, properties={"team": "b"}), {"accuracy": 70}),
    (Call(BASE_MS + 2 * DAY_MS), {"accuracy": 0}),
    (Call(BASE_MS + 2 * HOUR_MS), {}),
]
EVAL_WINDOW = {"start": iso(BASE_MS), "end": iso(BASE_MS + 6 * HOUR_MS)}
TEAM_B = {"request_response_rmt": {"properties": {"team": {"equals": "b"}}}}


@pytest.fixture
def scored(client: TestClient, key: str) -> str:
    log_calls(client, key, [call for call, _scores in SCORED])
    for call, scores in SCORED:
        if scores:
            post(client, key, f"/v1/request/{call.id}/score", {"scores": scores}, status=201)
    return key


def _hours(first_ms: int, count: int) -> list[str]:
    return [iso(first_ms + i * HOUR_MS) for i in range(count)]


def _series(dates: list[str], counts: list[int], means: list[float]) -> dict[str, Any]:
    return {
        "overTime": [{"date": d, "count": c} for d, c in zip(dates, counts, strict=True)],
        "averageOverTime": [{"date": d, "value": v} for d, v in zip(dates, means, strict=True)],
    }


def _evals(client: TestClient, key: str, node: Any = "all", **extra: Any) -> Any:
    return post(client, key, "/v1/evals/query", {"filter": node, "timeFilter": EVAL_WINDOW, **extra})


# --- evals --------------------------------------------------------------------------------------------


def test_evals_statistics_and_hourly_series(client: TestClient, scored: str) -> None:
    """averageScore is the mean of the scores: 70, where Helicone answers (85 + 55) / 4 = 35; the
    minimum and maximum are the scores', where Helicone counts a 0 for each hour without one."""
    hours = _hours(BASE_MS, 7)  # 00:00 to 06:00 UTC: the end's hour is included
    assert _evals(client, scored) == [
        {
            "name": "accuracy",
            "averageScore": 70.0,
            "minScore": 40,
            "maxScore": 90,
            "count": 4,
            **_series(hours, [0, 2, 0, 0, 0, 2, 0], [0, 85.0, 0, 0, 0, 55.0, 0]),
        },
        {
            "name": "helpful-hcone-bool",
            "averageScore": 0.5,
            "minScore": 0,
            "maxScore": 1,
            "count": 2,
            **_series(hours, [0, 1, 0, 0, 0, 1, 0], [0, 1.0, 0, 0, 0, 0.0, 0]),
        },
    ]


def test_evals_hours_follow_the_time_zone(client: TestClient, scored: str) -> None:
    """At +05:30 (tz=-330) local hours start at half past the UTC hour."""
    hours = _hours(BASE_MS - 30 * MINUTE_MS, 7)  # 23:30 the day before to 05:30 UTC
    [accuracy, helpful] = _evals(client, scored, timeZoneDifference=-330)
    assert accuracy == {
        "name": "accuracy",
        "averageScore": 70.0,
        "minScore": 40,
        "maxScore": 90,
        "count": 4,
        **_series(hours, [0, 1, 1, 0, 0, 1, 1], [0, 80.0, 90.0, 0, 0, 40.0, 70.0]),
    }
    assert helpful["overTime"] == [
        {"date": d, "count": c} for d, c in zip(hours, [0, 1, 0, 0, 0, 1, 0], strict=True)
    ]


def test_evals_filtered_and_paging_ignored(client: TestClient, scored: str) -> None:
    [accuracy] = _evals(client, scored, TEAM_B, offset=5, limit=1)
    assert (accuracy["name"], accuracy["averageScore"], accuracy["count"]) == ("accuracy", 70.0, 1)
    assert (accuracy["minScore"], accuracy["maxScore"]) == (70, 70)
    assert _evals(client, scored, {"request_response_rmt": {"user_id": {"equals": "nobody"}}}) == []


def test_eval_score_keys(client: TestClient, scored: str, make_key: Any) -> None:
    response = client.get("/v1/evals/scores", headers=auth(scored))
    assert response.status_code == 200
    assert response.json() == {"data": ["accuracy", "helpful-hcone-bool"], "error": None}
    other = make_key(org="globex")
    assert client.get("/v1/evals/scores", headers=auth(other)).json() == {"data": [], "error": None}


# --- score distributions ------------------------------------------------------------------------------


def test_score_distributions(client: TestClient, scored: str) -> None:
    """Ten equal-width bins per key; the window's end is excluded (R4, at 05:40, is left out)."""
    window = {"start": iso(BASE_MS), "end": iso(BASE_MS + 340 * MINUTE_MS)}
    body = {"filter": "all", "timeFilter": window}
    [accuracy, helpful] = post(client, scored, "/v1/evals/score-distributions/query", body)
    assert accuracy == {
        "name": "accuracy",
        "distribution": [
            {"lower": 40.0 + 5 * i, "upper": 45.0 + 5 * i, "value": count}
            for i, count in enumerate([1, 0, 0, 0, 0, 0, 0, 0, 1, 1])
        ],
    }
    assert helpful["name"] == "helpful-hcone-bool"
    assert helpful["distribution"] == [
        {"lower": 0.1 * i, "upper": 1.0 if i == 9 else 0.1 * (i + 1), "value": count}
        for i, count in enumerate([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    ]
    filtered = {"filter": TEAM_B, "timeFilter": EVAL_WINDOW}
    assert post(client, scored, "/v1/evals/score-distributions/query", filtered) == [
        {"name": "accuracy", "distribution": [{"lower": 70.0, "upper": 70.0, "value": 1}]}
    ]


# --- dashboard scores ---------------------------------------------------------------------------------


def _scores_over_time(client: TestClient, key: str, window: dict[str, str], unit: str, tz: int) -> Any:
    body = {"timeFilter": window, "userFilter": "all", "dbIncrement": unit, "timeZoneDifference": tz}
    return post(client, key, "/v1/dashboard/scores/query", body)


def _score(key: str, mean: float, at: str) -> dict[str, Any]:
    return {"score_key": key, "score_sum": mean, "created_at_trunc": at}


def test_dashboard_scores_average_per_local_day(client: TestClient, scored: str) -> None:
    """US Eastern (tz=300): the scores at 01:10 and 01:50 UTC are on the local day before those at
    05:20 and 05:40 UTC. score_sum holds the mean, as in Helicone; a day without scores gets the filler."""
    window = {"start": iso(BASE_MS - 12 * HOUR_MS), "end": iso(BASE_MS + DAY_MS + 12 * HOUR_MS)}
    assert _scores_over_time(client, scored, window, "day", 300) == [
        _score("accuracy", 85.0, "2026-03-09T05:00:00.000Z"),
        _score("helpful-hcone-bool", 1.0, "2026-03-09T05:00:00.000Z"),
        _score("accuracy", 55.0, "2026-03-10T05:00:00.000Z"),
        _score("helpful-hcone-bool", 0.0, "2026-03-10T05:00:00.000Z"),
        _score("", 0, "2026-03-11T05:00:00.000Z"),
    ]


def test_dashboard_scores_east_of_utc(client: TestClient, scored: str) -> None:
    """+05:30 (tz=-330), hourly: buckets start at half past the UTC hour."""
    window = {"start": iso(BASE_MS + HOUR_MS), "end": iso(BASE_MS + 3 * HOUR_MS)}
    assert _scores_over_time(client, scored, window, "hour", -330) == [
        _score("accuracy", 80.0, "2026-03-10T00:30:00.000Z"),
        _score("helpful-hcone-bool", 1.0, "2026-03-10T00:30:00.000Z"),
        _score("accuracy", 90.0, "2026-03-10T01:30:00.000Z"),
        _score("", 0, "2026-03-10T02:30:00.000Z"),
    ]


# --- scoring through the Evals API --------------------------------------------------------------------


def _scores_of(client: TestClient, key: str, request_id: str) -> dict[str, int]:
    response = client.get(f"/v1/request/{request_id}", headers=auth(key))
    scores: dict[str, int] = response.json()["data"]["scores"]
    return scores


def test_add_eval_stores_the_score(client: TestClient, key: str) -> None:
    call = Call(BASE_MS + HOUR_MS)
    log_calls(client, key, [call])
    assert post(client, key, f"/v1/evals/{call.id}", {"name": "quality", "score": 4}, status=201) is None
    assert post(client, key, f"/v1/evals/{call.id}", {"name": "grounded", "score": True}, status=201) is None
    assert post(client, key, f"/v1/evals/{call.id}", {"name": "quality", "score": 5.0}, status=201) is None
    assert _scores_of(client, key, call.id) == {"quality": 5, "grounded-hcone-bool": 1}
    [quality] = [e for e in _evals(client, key) if e["name"] == "quality"]
    assert (quality["averageScore"], quality["count"]) == (5.0, 1)


def test_add_eval_refusals(client: TestClient, key: str, make_key: Any) -> None:
    call = Call(BASE_MS + HOUR_MS)
    log_calls(client, key, [call])
    cases = [
        (f"/v1/evals/{call.id}", {"name": "q", "score": 1.5}, 400, "'q'"),
        (f"/v1/evals/{call.id}", {"name": "", "score": 1}, 400, "non-empty"),
        (f"/v1/evals/{call.id}", {"name": "q"}, 422, "body.score"),
        (f"/v1/evals/{call.id}", {"name": "q", "score": "high"}, 422, "body.score"),
        (f"/v1/evals/{call.id}", {"name": "q", "score": 1, "extra": 1}, 422, "body.extra"),
        ("/v1/evals/00000000-0000-4000-8000-000000000000", {"name": "q", "score": 1}, 404, "not found"),
        ("/v1/evals/not-a-uuid", {"name": "q", "score": 1}, 400, "path.requestId"),
    ]
    for path, body, status, text in cases:
        response = client.post(path, json=body, headers=auth(key))
        assert response.status_code == status, (body, response.text)
        assert text in response.json()["error"], (body, response.text)
    reader = make_key(permissions="r")
    response = client.post(f"/v1/evals/{call.id}", json={"name": "q", "score": 1}, headers=auth(reader))
    assert response.status_code == 401
    other = make_key(org="globex")
    response = client.post(f"/v1/evals/{call.id}", json={"name": "q", "score": 1}, headers=auth(other))
    assert response.status_code == 404
    assert _scores_of(client, key, call.id) == {}


# --- settings, isolation, bad bodies ------------------------------------------------------------------


def test_settings_answer_without_envelope(client: TestClient, key: str, make_key: Any) -> None:
    response = client.get("/v1/settings/query", headers=auth(make_key(permissions="r")))
    assert response.status_code == 200
    assert response.json() == {"useAzureForExperiment": False}
    assert client.get("/v1/settings/query").status_code == 401


def test_other_organizations_see_nothing(client: TestClient, scored: str, make_key: Any) -> None:
    other = make_key(org="globex")
    assert _evals(client, other) == []
    body = {"filter": "all", "timeFilter": EVAL_WINDOW}
    assert post(client, other, "/v1/evals/score-distributions/query", body) == []
    day = {"start": iso(BASE_MS), "end": iso(BASE_MS + 12 * HOUR_MS)}
    assert _scores_over_time(client, other, day, "day", 0) == [_score("", 0, "2026-03-10T00:00:00.000Z")]


def test_read_only_keys_read(client: TestClient, scored: str, make_key: Any) -> None:
    reader = make_key(permissions="r")
    assert [e["name"] for e in _evals(client, reader)] == ["accuracy", "helpful-hcone-bool"]


SERIES = {"timeFilter": EVAL_WINDOW, "userFilter": "all", "dbIncrement": "hour", "timeZoneDifference": 0}
EVALS = {"filter": "all", "timeFilter": EVAL_WINDOW}
BAD_BODIES = [
    ("/v1/evals/query", {"timeFilter": EVAL_WINDOW}, 422, "body.filter"),
    ("/v1/evals/query", {"filter": "all"}, 422, "body.timeFilter"),
    ("/v1/evals/query", {**EVALS, "timeZoneDifference": -1441}, 422, "body.timeZoneDifference"),
    ("/v1/evals/query", {**EVALS, "timeZoneDifference": 0.5}, 400, "timeZoneDifference"),
    ("/v1/evals/query", {**EVALS, "limit": -1}, 422, "body.limit"),
    ("/v1/evals/query", {**EVALS, "offset": 1e300}, 422, "body.offset"),
    ("/v1/evals/query", {**EVALS, "extra": True}, 422, "body.extra"),
    ("/v1/evals/query", {**EVALS, "filter": {"request_response_rmt": {"nope": {"equals": 1}}}}, 400, "nope"),
    ("/v1/evals/query", {**EVALS, "timeFilter": {"start": "2026-13-01", "end": "2026-03-01"}}, 400, "timeFilter.start"),
    ("/v1/evals/query", {**EVALS, "timeFilter": {"start": "2000-01-01", "end": "2026-03-01"}}, 400, "hour"),
    ("/v1/evals/score-distributions/query", {**EVALS, "timeFilter": {"end": "x"}}, 422, "body.timeFilter.start"),
    ("/v1/evals/score-distributions/query", {**EVALS, "timeFilter": {"start": "x", "end": "y"}}, 400, "timeFilter.start"),
    ("/v1/dashboard/scores/query", {**SERIES, "dbIncrement": "fortnight"}, 422, "body.dbIncrement"),
    ("/v1/dashboard/scores/query", {k: v for k, v in SERIES.items() if k != "timeZoneDifference"}, 422, "body.timeZoneDifference"),
    ("/v1/dashboard/scores/query", {**SERIES, "timeZoneDifference": 1e9}, 422, "body.timeZoneDifference"),
    ("/v1/dashboard/scores/query", {**SERIES, "userFilter": [1]}, 400, "filter"),
    ("/v1/dashboard/scores/query", {**SERIES, "propertyKey": "x"}, 422, "body.propertyKey"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "status", "field"), BAD_BODIES)
def test_bad_bodies_name_the_field(
    client: TestClient, key: str, path: str, body: Any, status: int, field: str
) -> None:
    response = client.post(path, json=body, headers=auth(key))
    assert response.status_code == status, response.text
    assert field in response.json()["error"], response.text
