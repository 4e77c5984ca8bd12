"""The legacy experiment dataset API (``/v1/experiment/dataset``, reference §2.8): datasets of prompt input
records, over HTTP on both databases. Input records are made through the API itself (row/new, with a
source request logged through ``/v1/trace/custom/log``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from evaluators.support import chat_log
from support.http import auth

BASE = "/v1/experiment/dataset"
TEMPLATE = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": 'Write about <helicone-prompt-input key="topic" />'}],
}


class Api:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.key = key

    def call(self, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.client.post(path, json=body, headers=auth(self.key))
        return response.status_code, response.json()

    def ok(self, path: str, body: Any = None) -> Any:
        status, payload = self.call(path, body)
        assert status == 200, payload
        assert payload["error"] is None
        return payload["data"]

    def version(self, name: str = "blog") -> str:
        body = {"userDefinedId": name, "prompt": TEMPLATE, "metadata": {}}
        status, payload = self.call("/v1/prompt/create", body)
        assert status == 201, payload
        return str(payload["data"]["prompt_version_id"])

    def log(self, **meta: str) -> str:
        request_id = str(uuid.uuid4())
        response = self.client.post(
            "/v1/trace/custom/log", json=chat_log(request_id, **meta), headers=auth(self.key)
        )
        assert response.status_code == 200, response.text
        return request_id

    def dataset(self, name: str = "set", request_ids: list[str] | None = None, **extra: Any) -> str:
        body = {"datasetName": name, "requestIds": request_ids or [], "datasetType": "experiment", **extra}
        return str(self.ok(BASE, body)["datasetId"])

    def new_row(self, dataset_id: str, version_id: str, topic: str, source: str | None = None) -> str:
        body: dict[str, Any] = {"inputs": {"topic": topic}}
        if source is not None:
            body["sourceRequest"] = source
        return str(self.ok(f"{BASE}/{dataset_id}/version/{version_id}/row/new", body))

    def inputs(self, dataset_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.ok(f"{BASE}/{dataset_id}/inputs/query")
        return found

    def topics(self, dataset_id: str) -> list[str]:
        return [record["inputs"]["topic"] for record in self.inputs(dataset_id)]


@pytest.fixture
def api(client: TestClient, key: str) -> Api:
    return Api(client, key)


def test_new_rows_are_input_records_listed_oldest_first_with_their_request(api: Api) -> None:
    version = api.version()
    dataset = api.dataset()
    request_id = api.log()
    first = api.new_row(dataset, version, "owls", source=request_id)
    second = api.new_row(dataset, version, "bats")
    records = api.inputs(dataset)
    assert [record["id"] for record in records] == [first, second]
    owls, bats = records
    assert owls["inputs"] == {"topic": "owls"}
    assert owls["source_request"] == request_id
    assert owls["prompt_version"] == version
    assert owls["auto_prompt_inputs"] == []
    assert owls["request_body"]["messages"][0]["content"] == "Capital of France?"
    assert owls["response_body"]["choices"][0]["message"]["content"] == "Paris"
    assert bats["source_request"] is None
    assert bats["request_body"] is None
    assert len({owls["dataset_row_id"], bats["dataset_row_id"]}) == 2
    # They are the version's input records too.
    status, payload = api.call(f"/v1/prompt/version/{version}/inputs/query", {"limit": 10})
    assert status == 201
    assert {record["id"] for record in payload["data"]} == {first, second}


def test_create_links_the_input_records_of_the_requests(api: Api) -> None:
    version = api.version()
    scratch = api.dataset("scratch")
    requests = [api.log() for _ in range(2)]
    records = [
        api.new_row(scratch, version, topic, source=r) for topic, r in zip(("a", "b"), requests, strict=True)
    ]
    meta = {"promptVersionId": version, "inputRecordsIds": records}
    dataset = api.dataset("from requests", list(reversed(requests)), datasetType="helicone", meta=meta)
    assert [record["id"] for record in api.inputs(dataset)] == records
    listed = {item["id"]: item for item in api.ok(f"{BASE}/query", {})}
    assert listed[dataset]["meta"] == meta
    assert listed[dataset]["name"] == "from requests"


def test_create_refuses_a_request_without_input_record_and_leaves_nothing(api: Api) -> None:
    version = api.version()
    scratch = api.dataset("scratch")
    recorded = api.log()
    api.new_row(scratch, version, "a", source=recorded)
    bare = api.log()
    body = {"datasetName": "x", "requestIds": [recorded, bare], "datasetType": "experiment"}
    status, payload = api.call(BASE, body)
    assert status == 400
    assert payload["error"].startswith("requestIds[1]")
    assert bare in payload["error"]
    status, payload = api.call(BASE, {**body, "requestIds": ["nope"]})
    assert status == 400
    assert "requestIds[0]" in payload["error"]
    assert [item["name"] for item in api.ok(f"{BASE}/query", {})] == ["scratch"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"datasetName": "x", "requestIds": [], "datasetType": "other"}, 422, "datasetType"),
        ({"datasetName": "x", "requestIds": [], "datasetType": "experiment", "extra": 1}, 422, "extra"),
        ({"datasetName": "x", "requestIds": [], "datasetType": "helicone", "meta": {"x": 1}}, 422, "meta"),
        ({"datasetName": "x", "datasetType": "experiment"}, 422, "requestIds"),
        ({"datasetName": " ", "requestIds": [], "datasetType": "experiment"}, 400, "datasetName"),
        ({"datasetName": "a\x00b", "requestIds": [], "datasetType": "experiment"}, 400, "datasetName"),
    ],
)
def test_create_refuses_bad_bodies(api: Api, body: dict[str, Any], status: int, fragment: str) -> None:
    got, payload = api.call(BASE, body)
    assert got == status, payload
    assert fragment in str(payload)
    assert api.ok(f"{BASE}/query", {}) == []


def test_query_lists_newest_first_and_filters_on_the_prompt_version(api: Api) -> None:
    version = api.version()
    plain = api.dataset("plain")
    tagged = api.dataset("tagged", meta={"promptVersionId": version})
    listed = api.ok(f"{BASE}/query", {})
    assert [item["id"] for item in listed] == [tagged, plain]
    assert set(listed[0]) == {"id", "name", "created_at", "meta"}
    assert listed[1]["meta"] is None
    assert [item["id"] for item in api.ok(f"{BASE}/query", {"promptVersionId": version})] == [tagged]
    assert api.ok(f"{BASE}/query", {"promptVersionId": str(uuid.uuid4())}) == []
    status, payload = api.call(f"{BASE}/query", {"promptVersionId": version, "other": 1})
    assert status == 422
    assert "other" in str(payload)


def test_row_insert_links_an_existing_record_once(api: Api) -> None:
    version = api.version()
    source = api.dataset("source")
    record = api.new_row(source, version, "owls")
    target = api.dataset("target")
    body = {"inputRecordId": record, "inputs": {"topic": "ignored"}, "originalColumnId": "c1"}
    assert api.ok(f"{BASE}/{target}/row/insert", body) == record
    assert api.ok(f"{BASE}/{target}/row/insert", body) == record
    assert api.topics(target) == ["owls"]
    status, payload = api.call(f"{BASE}/{target}/row/insert", {**body, "inputRecordId": str(uuid.uuid4())})
    assert status == 404, payload
    status, payload = api.call(f"{BASE}/{target}/row/insert", {**body, "inputRecordId": "nope"})
    assert status == 400
    assert "inputRecordId" in payload["error"]
    status, payload = api.call(f"{BASE}/{target}/row/insert", {"inputRecordId": record})
    assert status == 422
    assert "inputs" in str(payload)


def test_row_new_refuses_unknown_versions_and_bad_values(api: Api) -> None:
    version = api.version()
    dataset = api.dataset()
    status, _ = api.call(f"{BASE}/{dataset}/version/{uuid.uuid4()}/row/new", {"inputs": {}})
    assert status == 404
    path = f"{BASE}/{dataset}/version/{version}/row/new"
    status, payload = api.call(path, {"inputs": {}, "sourceRequest": "nope"})
    assert status == 400
    assert "sourceRequest" in payload["error"]
    status, payload = api.call(path, {"inputs": {"topic": 3}})
    assert status == 422
    assert "inputs" in str(payload)
    status, payload = api.call(f"{BASE}/not-a-uuid/version/{version}/row/new", {"inputs": {}})
    assert status == 400
    assert "path.datasetId" in payload["error"]
    assert api.inputs(dataset) == []


def test_mutate_adds_by_request_and_removes_by_row(api: Api) -> None:
    version = api.version()
    scratch = api.dataset("scratch")
    requests = [api.log() for _ in range(3)]
    for topic, request_id in zip(("a", "b", "c"), requests, strict=True):
        api.new_row(scratch, version, topic, source=request_id)
    dataset = api.dataset("target", requests[:1])
    body = {"addRequests": requests[1:], "removeRequests": []}
    assert api.ok(f"{BASE}/{dataset}/mutate", body) == []
    rows = api.inputs(dataset)
    assert [row["inputs"]["topic"] for row in rows] == ["a", "b", "c"]
    remove = {"addRequests": [], "removeRequests": [rows[1]["dataset_row_id"], str(uuid.uuid4())]}
    assert api.ok(f"{BASE}/{dataset}/mutate", remove) == []
    assert api.topics(dataset) == ["a", "c"]
    # A request without input record, or a malformed id, changes nothing.
    bare = api.log()
    for add, fragment in (([requests[1], bare], "addRequests[1]"), (["x"], "addRequests[0]")):
        body = {"addRequests": add, "removeRequests": [rows[0]["dataset_row_id"]]}
        status, payload = api.call(f"{BASE}/{dataset}/mutate", body)
        assert status == 400, payload
        assert payload["error"].startswith(fragment), payload
    assert api.topics(dataset) == ["a", "c"]
    status, payload = api.call(f"{BASE}/{dataset}/mutate", {"addRequests": []})
    assert status == 422
    assert "removeRequests" in str(payload)


def test_random_picks_records_matching_the_filter(api: Api) -> None:
    blog = api.version("blog")
    news = api.version("news")
    scratch = api.dataset("scratch")
    alice = api.log(**{"Helicone-User-Id": "alice"})
    bob = api.log(**{"Helicone-User-Id": "bob"})
    api.new_row(scratch, blog, "b1", source=alice)
    api.new_row(scratch, blog, "b2", source=bob)
    api.new_row(scratch, blog, "b3")
    api.new_row(scratch, news, "n1", source=alice)

    def random(filter_node: Any, **extra: Any) -> list[str]:
        body = {"datasetName": "random", "filter": filter_node, **extra}
        return sorted(api.topics(str(api.ok(f"{BASE}/random", body)["datasetId"])))

    assert random("all") == ["b1", "b2", "b3", "n1"]
    assert random({"prompts_versions": {"id": {"equals": blog}}}) == ["b1", "b2", "b3"]
    assert random({"request": {"user_id": {"equals": "alice"}}}) == ["b1", "n1"]
    both = {
        "left": {"prompts_versions": {"id": {"equals": blog}}},
        "operator": "and",
        "right": {"request": {"user_id": {"equals": "alice"}}},
    }
    assert random(both) == ["b1"]
    assert len(random("all", limit=2)) == 2
    assert random("all", offset=4) == []


@pytest.mark.parametrize(
    ("extra", "status", "fragment"),
    [
        ({"filter": {"feedback": {"rating": {"equals": True}}}}, 400, "'feedback'"),
        ({"filter": {"prompts_versions": {"nope": {"equals": 1}}}}, 400, "prompts_versions.nope"),
        ({"filter": {"request": {"nope": {"equals": 1}}}}, 400, "request.nope"),
        ({"filter": [1]}, 400, "filter"),
        ({"filter": "all", "limit": 1001}, 422, "limit"),
        ({"filter": "all", "limit": 0}, 422, "limit"),
        ({"filter": "all", "offset": -1}, 422, "offset"),
        ({"filter": "all", "other": 1}, 422, "other"),
        ({}, 422, "filter"),
    ],
)
def test_random_refuses_bad_bodies(api: Api, extra: dict[str, Any], status: int, fragment: str) -> None:
    got, payload = api.call(f"{BASE}/random", {"datasetName": "r", **extra})
    assert got == status, payload
    assert fragment in str(payload)
    assert api.ok(f"{BASE}/query", {}) == []


def test_another_organization_sees_and_touches_nothing(api: Api, client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    version = api.version()
    dataset = api.dataset("mine", meta={"promptVersionId": version})
    request_id = api.log()
    record = api.new_row(dataset, version, "owls", source=request_id)
    other = Api(client, make_key(org="other"))
    theirs = other.dataset("theirs")
    assert [item["id"] for item in other.ok(f"{BASE}/query", {})] == [theirs]
    assert other.call(f"{BASE}/{dataset}/inputs/query")[0] == 404
    assert other.call(f"{BASE}/{dataset}/row/insert", {"inputRecordId": record, "inputs": {}})[0] == 404
    assert other.call(f"{BASE}/{theirs}/row/insert", {"inputRecordId": record, "inputs": {}})[0] == 404
    assert other.call(f"{BASE}/{theirs}/version/{version}/row/new", {"inputs": {}})[0] == 404
    assert other.call(f"{BASE}/{dataset}/version/{version}/row/new", {"inputs": {}})[0] == 404
    status, payload = other.call(
        f"{BASE}/{theirs}/mutate", {"addRequests": [request_id], "removeRequests": []}
    )
    assert status == 400
    assert request_id in payload["error"]
    row_id = api.inputs(dataset)[0]["dataset_row_id"]
    assert other.call(f"{BASE}/{dataset}/mutate", {"addRequests": [], "removeRequests": [row_id]})[0] == 404
    assert (
        other.call(f"{BASE}", {"datasetName": "x", "requestIds": [request_id], "datasetType": "helicone"})[0]
        == 400
    )
    assert other.ok(f"{BASE}/random", {"datasetName": "r", "filter": "all"})
    assert other.inputs(theirs) == []
    assert api.topics(dataset) == ["owls"]


def test_a_read_only_key_reads_but_cannot_write(api: Api, client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    dataset = api.dataset()
    reader = Api(client, make_key(permissions="r"))
    assert [item["id"] for item in reader.ok(f"{BASE}/query", {})] == [dataset]
    assert reader.inputs(dataset) == []
    status, _ = reader.call(BASE, {"datasetName": "x", "requestIds": [], "datasetType": "experiment"})
    assert status == 401
