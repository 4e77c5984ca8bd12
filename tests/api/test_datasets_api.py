"""Helicone datasets (`/v1/helicone-dataset`): sets of logged requests whose bodies are copied into
rows, read back through expiring signed links."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from evaluators.support import log_chat
from heliograph.app import create_app
from heliograph.clock import system_clock
from heliograph.settings import Settings
from support.http import auth

BASE = "/v1/helicone-dataset"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


class Clock:
    """A clock the test moves, so expiry and the daily limit are tested without waiting."""

    def __init__(self) -> None:
        self.now = system_clock()

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _client(settings: Settings, engine: sa.Engine, clock: Clock, **changes: Any) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=changes), db=engine, clock=clock))


@pytest.fixture
def timed_client(settings: Settings, engine: sa.Engine, clock: Clock) -> Iterator[TestClient]:
    with _client(settings, engine, clock) as client:
        yield client


def _create(client: TestClient, key: str, request_ids: list[str], name: str = "golden") -> str:
    response = client.post(BASE, json={"datasetName": name, "requestIds": request_ids}, headers=auth(key))
    assert response.status_code == 200, response.text
    assert response.json()["error"] is None
    dataset_id: str = response.json()["data"]["datasetId"]
    return dataset_id


def _rows(client: TestClient, key: str, dataset_id: str, **page: int) -> list[dict[str, Any]]:
    response = client.post(f"{BASE}/{dataset_id}/query", json=page, headers=auth(key))
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


def _count(client: TestClient, key: str, dataset_id: str) -> Any:
    response = client.post(f"{BASE}/{dataset_id}/count", headers=auth(key))
    return response.json()["data"] if response.status_code == 200 else response.status_code


def _datasets(client: TestClient, key: str, **body: Any) -> list[dict[str, Any]]:
    response = client.post(f"{BASE}/query", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def test_a_dataset_copies_the_bodies_of_its_requests(client: TestClient, key: str) -> None:
    first, second = log_chat(client, key, "Paris"), log_chat(client, key, "Lyon")
    dataset_id = _create(client, key, [first, second])
    rows = _rows(client, key, dataset_id)
    assert sorted(row["origin_request_id"] for row in rows) == sorted([first, second])
    assert {row["dataset_id"] for row in rows} == {dataset_id}
    for row in rows:
        assert row["signed_url"]["error"] is None
        assert row["signed_url"]["data"].startswith("http://testserver/v1/signed/dataset-row/")
        # No key: the link is the credential, as Helicone's presigned URLs are.
        fetched = client.get(row["signed_url"]["data"])
        assert fetched.status_code == 200, fetched.text
        logged = client.get(f"/v1/request/{row['origin_request_id']}", headers=auth(key)).json()["data"]
        bodies = client.get(logged["signed_body_url"]).json()
        assert fetched.json() == bodies
        assert fetched.json()["request"]["messages"][0]["content"] == "Capital of France?"
    answers = {
        client.get(r["signed_url"]["data"]).json()["response"]["choices"][0]["message"]["content"]
        for r in rows
    }
    assert answers == {"Paris", "Lyon"}
    assert _count(client, key, dataset_id) == 2
    [listed] = _datasets(client, key)
    assert listed["id"] == dataset_id
    assert (listed["name"], listed["dataset_type"], listed["requests_count"]) == ("golden", "helicone", 2)
    assert listed["meta"] is None
    assert listed["created_at"].endswith("Z")


def test_rows_are_paged_newest_first_with_the_limit_clamped(
    timed_client: TestClient, key: str, clock: Clock
) -> None:
    client = timed_client
    dataset_id = _create(client, key, [log_chat(client, key)])
    clock.now += 1000
    newer = log_chat(client, key)
    assert (
        client.post(
            f"{BASE}/{dataset_id}/mutate",
            json={"addRequests": [newer], "removeRequests": []},
            headers=auth(key),
        ).status_code
        == 200
    )
    rows = _rows(client, key, dataset_id)
    assert rows[0]["origin_request_id"] == newer
    assert rows[0]["created_at"] > rows[1]["created_at"]
    assert [r["id"] for r in _rows(client, key, dataset_id, limit=0)] == [rows[0]["id"]]
    assert [r["id"] for r in _rows(client, key, dataset_id, offset=1, limit=-5)] == [rows[1]["id"]]
    assert len(_rows(client, key, dataset_id, limit=10**12)) == 2
    assert _rows(client, key, dataset_id, offset=5) == []


def test_mutate_adds_requests_and_removes_rows(client: TestClient, key: str) -> None:
    first, second, third = (log_chat(client, key) for _ in range(3))
    dataset_id = _create(client, key, [first], name="m")
    [row] = _rows(client, key, dataset_id)
    response = client.post(
        f"{BASE}/{dataset_id}/mutate",
        json={"addRequests": [second, third], "removeRequests": [row["id"]]},
        headers=auth(key),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": None, "error": None}
    assert sorted(r["origin_request_id"] for r in _rows(client, key, dataset_id)) == sorted([second, third])
    assert _count(client, key, dataset_id) == 2
    # The removed row's link now names nothing.
    assert client.get(row["signed_url"]["data"]).status_code == 404


def test_a_rows_bodies_can_be_overwritten(client: TestClient, key: str) -> None:
    dataset_id = _create(client, key, [log_chat(client, key)])
    [row] = _rows(client, key, dataset_id)
    edited = {"requestBody": {"messages": [{"role": "user", "content": "edited"}]}, "responseBody": "plain"}
    # Helicone's path names it requestId, but it is the dataset ROW id.
    response = client.post(f"{BASE}/{dataset_id}/request/{row['id']}", json=edited, headers=auth(key))
    assert response.status_code == 200, response.text
    assert client.get(row["signed_url"]["data"]).json() == {
        "request": edited["requestBody"],
        "response": "plain",
    }
    origin = client.post(
        f"{BASE}/{dataset_id}/request/{row['origin_request_id']}", json=edited, headers=auth(key)
    )
    assert origin.status_code == 404
    missing = client.post(
        f"{BASE}/{dataset_id}/request/{row['id']}", json={"requestBody": 1}, headers=auth(key)
    )
    assert missing.status_code == 422


def test_a_deleted_dataset_counts_nothing_and_is_not_listed(
    timed_client: TestClient, key: str, clock: Clock
) -> None:
    client = timed_client
    kept = _create(client, key, [], name="kept")
    clock.now += 1
    dataset_id = _create(client, key, [log_chat(client, key)], name="gone")
    [row] = _rows(client, key, dataset_id)
    assert [d["name"] for d in _datasets(client, key)] == ["gone", "kept"]
    response = client.post(f"{BASE}/{dataset_id}/delete", headers=auth(key))
    assert response.status_code == 200, response.text
    assert _count(client, key, dataset_id) == 0
    assert [d["id"] for d in _datasets(client, key)] == [kept]
    assert _datasets(client, key, datasetIds=[dataset_id]) == []
    assert client.get(row["signed_url"]["data"]).status_code == 404
    assert client.post(f"{BASE}/{dataset_id}/delete", headers=auth(key)).status_code == 404
    assert client.post(f"{BASE}/{dataset_id}/query", json={}, headers=auth(key)).status_code == 404


def test_datasets_can_be_listed_by_id_with_their_meta(client: TestClient, key: str) -> None:
    meta = {"promptVersionId": "v1", "inputRecordsIds": ["a", "b"]}
    response = client.post(BASE, json={"datasetName": "x", "requestIds": [], "meta": meta}, headers=auth(key))
    wanted = response.json()["data"]["datasetId"]
    _create(client, key, [], name="other")
    [listed] = _datasets(client, key, datasetIds=[wanted])
    assert listed["meta"] == meta
    assert listed["requests_count"] == 0


def test_another_organizations_datasets_are_invisible(client: TestClient, key: str, make_key: Any) -> None:
    request_id = log_chat(client, key)
    dataset_id = _create(client, key, [request_id])
    other = make_key(org="globex")
    assert _datasets(client, other) == []
    calls: list[tuple[str, dict[str, Any] | None]] = [
        ("count", None),
        ("query", {}),
        ("delete", None),
        ("mutate", {"addRequests": [], "removeRequests": []}),
    ]
    for path, body in calls:
        response = client.post(f"{BASE}/{dataset_id}/{path}", json=body, headers=auth(other))
        assert response.status_code == 404, (path, response.text)
    # Nor can its requests be added to one's own dataset.
    response = client.post(
        BASE, json={"datasetName": "steal", "requestIds": [request_id]}, headers=auth(other)
    )
    assert response.status_code == 400
    assert request_id in response.json()["error"]
    assert _count(client, key, dataset_id) == 1


def test_unknown_requests_leave_nothing_behind(client: TestClient, key: str) -> None:
    known = log_chat(client, key)
    response = client.post(BASE, json={"datasetName": "d", "requestIds": [known, UNKNOWN]}, headers=auth(key))
    assert response.status_code == 400
    assert UNKNOWN in response.json()["error"]
    assert _datasets(client, key) == []
    dataset_id = _create(client, key, [known])
    mutate = {"addRequests": [UNKNOWN], "removeRequests": []}
    response = client.post(f"{BASE}/{dataset_id}/mutate", json=mutate, headers=auth(key))
    assert response.status_code == 400
    assert UNKNOWN in response.json()["error"]
    assert _count(client, key, dataset_id) == 1
    assert _count(client, key, UNKNOWN) == 404


@pytest.mark.parametrize(
    ("path", "body", "status", "named"),
    [
        ("", {"datasetName": "d"}, 422, "requestIds"),
        ("", {"datasetName": "d", "requestIds": [], "extra": 1}, 422, "extra"),
        ("", {"datasetName": "d", "requestIds": [], "meta": {"other": 1}}, 422, "other"),
        ("", {"datasetName": "d", "requestIds": ["nope"]}, 400, "requestIds"),
        ("", {"datasetName": "a\x00b", "requestIds": []}, 400, "datasetName"),
        ("/query", {"datasetIds": ["nope"]}, 400, "datasetIds"),
        ("/query", {"unknown": True}, 422, "unknown"),
        ("/{id}/query", {"offset": -1}, 422, "offset"),
        ("/{id}/query", {"limit": "many"}, 422, "limit"),
        ("/{id}/mutate", {"addRequests": []}, 422, "removeRequests"),
        ("/{id}/mutate", {"addRequests": [], "removeRequests": ["row"]}, 400, "removeRequests"),
        ("/{id}/request/" + UNKNOWN, {"requestBody": {}, "responseBody": {}, "x": 1}, 422, "x"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    client: TestClient, key: str, path: str, body: dict[str, Any], status: int, named: str
) -> None:
    dataset_id = _create(client, key, [], name="target")
    response = client.post(BASE + path.replace("{id}", dataset_id), json=body, headers=auth(key))
    assert response.status_code == status, response.text
    assert named in response.json()["error"]


def test_a_read_only_key_cannot_change_datasets(client: TestClient, key: str, make_key: Any) -> None:
    dataset_id = _create(client, key, [])
    reader = make_key(permissions="r")
    assert (
        client.post(BASE, json={"datasetName": "d", "requestIds": []}, headers=auth(reader)).status_code
        == 401
    )
    assert client.post(f"{BASE}/{dataset_id}/delete", headers=auth(reader)).status_code == 401
    assert _count(client, reader, dataset_id) == 0
    assert len(_datasets(client, reader)) == 1


def test_signed_links_expire_and_cannot_be_forged(timed_client: TestClient, key: str, clock: Clock) -> None:
    client = timed_client
    dataset_id = _create(client, key, [log_chat(client, key)])
    url = _rows(client, key, dataset_id)[0]["signed_url"]["data"]
    assert client.get(url).status_code == 200
    token = url.rsplit("/", 1)[1]
    assert client.get(url[: -len(token)] + token[:-2] + "xx").status_code == 403
    # A request-body link is not a dataset-row link, even with a valid signature.
    assert client.get(url.replace("/dataset-row/", "/request-body/")).status_code == 403
    clock.now += 3601 * 1000
    expired = client.get(url)
    assert expired.status_code == 403
    assert "expired" in expired.json()["error"]


def test_rows_added_per_day_are_limited(
    settings: Settings, engine: sa.Engine, clock: Clock, key: str
) -> None:
    with _client(settings, engine, clock, dataset_rows_per_day=2) as client:
        first, second, third = (log_chat(client, key) for _ in range(3))
        dataset_id = _create(client, key, [first, second])
        mutate = {"addRequests": [third], "removeRequests": []}
        response = client.post(f"{BASE}/{dataset_id}/mutate", json=mutate, headers=auth(key))
        assert response.status_code == 429
        assert response.json()["error"].startswith("Rate limit exceeded: at most 2 rows")
        refused = client.post(BASE, json={"datasetName": "more", "requestIds": [third]}, headers=auth(key))
        assert refused.status_code == 429
        assert [d["id"] for d in _datasets(client, key)] == [dataset_id]
        # Removing rows does not give back the day's allowance; the next UTC day does.
        clock.now += 86_400_000
        response = client.post(f"{BASE}/{dataset_id}/mutate", json=mutate, headers=auth(key))
        assert response.status_code == 200, response.text
        assert _count(client, key, dataset_id) == 3
