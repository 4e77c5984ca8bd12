"""Prompt writes racing each other: version numbers are never shared and promotion is atomic."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from support.http import auth

TEMPLATE = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _create(client: TestClient, key: str) -> dict[str, str]:
    body = {"userDefinedId": "raced", "prompt": TEMPLATE, "metadata": {}}
    response = client.post("/v1/prompt/create", json=body, headers=auth(key))
    assert response.status_code == 201
    data: dict[str, str] = response.json()["data"]
    return data


def test_concurrent_subversions_get_distinct_numbers(client: TestClient, key: str) -> None:
    parent = _create(client, key)["prompt_version_id"]

    def subversion(index: int) -> tuple[int, tuple[int, int]]:
        body = {"newHeliconeTemplate": {**TEMPLATE, "n": index}, "isMajorVersion": index % 5 == 0}
        response = client.post(f"/v1/prompt/version/{parent}/subversion", json=body, headers=auth(key))
        data = response.json()["data"]
        return response.status_code, (data["major_version"], data["minor_version"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(subversion, range(40)))

    assert {status for status, _ in results} == {201}
    numbers = [number for _, number in results]
    assert len(set(numbers)) == 40
    majors = sorted(major for major, minor in numbers if minor == 0)
    assert majors == list(range(2, 10))  # eight major bumps: 2.0 ... 9.0, each taken once
    minors = sorted(minor for major, minor in numbers if major == 1)
    assert minors == list(range(1, 33))  # 32 minor bumps of 1.x: 1.1 ... 1.32, no gap, no repeat


def test_concurrent_promotions_leave_exactly_one_production_version(client: TestClient, key: str) -> None:
    created = _create(client, key)
    first = created["prompt_version_id"]
    candidates = []
    for _ in range(12):
        response = client.post(
            f"/v1/prompt/version/{first}/subversion",
            json={"newHeliconeTemplate": TEMPLATE},
            headers=auth(key),
        )
        candidates.append(response.json()["data"]["id"])

    def promote(version: str) -> int:
        body = {"previousProductionVersionId": first}
        response = client.post(f"/v1/prompt/version/{version}/promote", json=body, headers=auth(key))
        return response.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(promote, candidates))

    # Every caller believed `first` was production: one wins, the others learn it changed.
    assert sorted(statuses) == [201] + [409] * 11
    versions = client.post(f"/v1/prompt/{created['id']}/versions/query", json={}, headers=auth(key)).json()[
        "data"
    ]
    production = [v["id"] for v in versions if v["metadata"]["isProduction"]]
    assert production == [candidates[statuses.index(201)]]
