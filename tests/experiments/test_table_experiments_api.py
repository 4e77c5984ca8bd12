"""The experiment-level routes of Helicone's table-based experiments (``/v1/experiment``): experiments over
a dataset, hypotheses, meta, the experiment query, hypothesis scores, the evaluator routes (which act on
``/v2`` experiments, as in Helicone), and Heliograph's run of a hypothesis over the dataset through the
gateway; every one scoped to its organization, bad bodies a 4xx."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from evaluators.support import judge_template
from experiments.support import BASE, data, wait_for
from experiments.table_support import V1, new_dataset, new_prompt, query
from heliograph.dev.fake_provider import FakeProvider
from support.http import auth

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "helicone_openapi_paths.json"
# Helicone's spec gives GET /v1/experiment/{id}/evaluators the operation id of GET
# /v2/experiment/{id}/evaluators; ids must be unique in an OpenAPI document (docs/compatibility.md).
RENAMED = {("/v1/experiment/{experimentId}/evaluators", "get"): "GetExperimentEvaluatorsOld"}
UNKNOWN = "00000000-0000-4000-8000-000000000000"
KeyFactory = Callable[..., str]


def _is_table_route(path: str) -> bool:
    return path.startswith("/v1/experiment") and not path.startswith("/v1/experiment/dataset")


def test_every_helicone_table_experiment_operation_exists(client: TestClient) -> None:
    helicone = json.loads(REFERENCE.read_text())["paths"]
    ours = client.get("/openapi.json").json()["paths"]
    wanted = {(p, m) for p, ops in helicone.items() if _is_table_route(p) for m in ops}
    assert len(wanted) == 20
    assert {(p, m) for p, m in wanted if m not in ours.get(p, {})} == set()
    ids = {(p, m): ours[p][m]["operationId"] for p, m in wanted}
    assert ids == {(p, m): RENAMED.get((p, m), helicone[p][m]["operationId"]) for p, m in wanted}


def _hypothesis(client: TestClient, key: str, experiment_id: str, version_id: str, **extra: Any) -> str:
    body = {
        "experimentId": experiment_id,
        "model": "gpt-4o-mini",
        "promptVersion": version_id,
        "providerKeyId": "NOKEY",
        "status": "PENDING",
        **extra,
    }
    return str(data(client.post(f"{V1}/hypothesis", json=body, headers=auth(key)))["hypothesisId"])


def _finished(client: TestClient, key: str, hypothesis_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = data(client.get(f"{V1}/hypothesis/{hypothesis_id}/run", headers=auth(key)))
        return run if run["status"] != "RUNNING" else None

    finished: dict[str, Any] = wait_for(done)
    return finished


def test_an_experiment_over_a_dataset_runs_its_hypothesis(
    client: TestClient, key: str, fake: FakeProvider
) -> None:
    prompt_id, version_id = new_prompt(client, key)
    dataset_id, records = new_dataset(client, key, version_id, ["Lisbon", "Porto"])
    body = {
        "datasetId": dataset_id,
        "promptVersion": version_id,
        "model": "gpt-4o-mini",
        "providerKeyId": "NOKEY",
        "meta": {"prompt_id": prompt_id, "name": "terse"},
    }
    experiment_id = data(client.post(V1, json=body, headers=auth(key)))["experimentId"]

    experiment = query(client, key, experiment_id, inputs=True)
    assert experiment["meta"] == {"prompt_id": prompt_id, "name": "terse"}
    assert experiment["tableId"] is None
    assert experiment["scores"] is None
    assert experiment["dataset"]["id"] == dataset_id
    assert experiment["dataset"]["name"] == "cities"
    rows = experiment["dataset"]["rows"]
    assert [row["inputRecord"]["inputs"] for row in rows] == [{"city": "Lisbon"}, {"city": "Porto"}]
    assert [row["inputRecord"]["id"] for row in rows] == records
    [hypothesis] = experiment["hypotheses"]
    assert {k: hypothesis[k] for k in ("promptVersionId", "model", "status", "providerKey", "runs")} == {
        "promptVersionId": version_id,
        "model": "gpt-4o-mini",
        "status": "PENDING",
        "providerKey": None,
        "runs": [],
    }
    no_runs = data(client.post(f"{V1}/hypothesis/{hypothesis['id']}/scores/query", headers=auth(key)))
    assert no_runs == {
        "runsCount": 0,
        "scores": {
            "model": {"value": "No data", "valueType": "string"},
            "cost": {"value": -1, "valueType": "number"},
            "latency": {"value": -1, "valueType": "number"},
        },
    }

    started = data(client.post(f"{V1}/hypothesis/{hypothesis['id']}/run", headers=auth(key)))
    assert started["hypothesisId"] == hypothesis["id"]
    assert started["status"] == "RUNNING"
    finished = _finished(client, key, hypothesis["id"])
    assert finished == {
        "hypothesisId": hypothesis["id"],
        "status": "COMPLETED",
        "rows": {"done": 2, "pending": 0, "failed": 0},
        "errors": [],
    }

    experiment = query(client, key, experiment_id, inputs=True, promptVersion=True, responseBodies=True)
    [hypothesis] = experiment["hypotheses"]
    assert hypothesis["status"] == "COMPLETED"
    assert hypothesis["promptVersion"]["template"]["messages"][1]["content"].startswith("One tip for")
    assert hypothesis["parentPromptVersion"] == hypothesis["promptVersion"]  # 1.0 is its own parent
    runs = hypothesis["runs"]
    assert sorted(run["datasetRowId"] for run in runs) == sorted(row["rowId"] for row in rows)
    for run in runs:
        assert run["request"]["provider"] == "OPENAI"
        assert run["response"]["model"] == "gpt-4o-mini"
        assert run["response"]["body"]["choices"]
        logged = data(client.get(f"/v1/request/{run['resultRequestId']}?includeBody=true", headers=auth(key)))
        assert logged["request_properties"]["Helicone-Experiment-Id"] == experiment_id
        sent = logged["request_body"]
        assert sent["model"] == "gpt-4o-mini"  # the hypothesis's model, not the template's gpt-4o
        assert "Lisbon" in sent["messages"][1]["content"] or "Porto" in sent["messages"][1]["content"]
    assert experiment["scores"]["hypothesis"]["runsCount"] == 2

    scores = data(client.post(f"{V1}/hypothesis/{hypothesis['id']}/scores/query", headers=auth(key)))
    assert scores["runsCount"] == 2
    assert scores["scores"]["model"] == {"value": "gpt-4o-mini", "valueType": "string"}
    assert scores["scores"]["cost"]["value"] > 0
    assert scores["scores"]["latency"]["value"] >= 0
    assert scores["scores"]["dateCreated"]["valueType"] == "date"

    # A second run has nothing left to do; naming a row runs it again.
    again = data(client.post(f"{V1}/hypothesis/{hypothesis['id']}/run", headers=auth(key)))
    assert again["rows"] == {"done": 2, "pending": 0, "failed": 0}
    row_id = rows[0]["rowId"]
    data(
        client.post(
            f"{V1}/hypothesis/{hypothesis['id']}/run", json={"datasetRowIds": [row_id]}, headers=auth(key)
        )
    )
    _finished(client, key, hypothesis["id"])
    # The query lists the newest run of each row: the row run again has a new request.
    before = {run["datasetRowId"]: run["resultRequestId"] for run in runs}
    after = {
        run["datasetRowId"]: run["resultRequestId"]
        for run in query(client, key, experiment_id)["hypotheses"][0]["runs"]
    }
    assert after.keys() == before.keys()
    assert [row for row in after if after[row] != before[row]] == [row_id]

    listed = data(client.get(f"/v1/prompt/{prompt_id}/experiments", headers=auth(key)))
    assert [(item["id"], item["num_hypotheses"], item["dataset"]) for item in listed] == [
        (experiment_id, 1, dataset_id)
    ]


def test_a_failing_row_fails_the_hypothesis_with_its_error(
    client: TestClient, key: str, fake: FakeProvider
) -> None:
    _, version_id = new_prompt(client, key)
    dataset_id, _ = new_dataset(client, key, version_id, ["fake-status: 400"])
    experiment_id = data(
        client.post(
            V1,
            json={
                "datasetId": dataset_id,
                "promptVersion": version_id,
                "model": "gpt-4o",
                "providerKeyId": "k",
            },
            headers=auth(key),
        )
    )["experimentId"]
    [hypothesis] = query(client, key, experiment_id)["hypotheses"]
    assert hypothesis["providerKey"] == "k"
    data(client.post(f"{V1}/hypothesis/{hypothesis['id']}/run", headers=auth(key)))
    finished = _finished(client, key, hypothesis["id"])
    assert finished["status"] == "FAILED"
    assert finished["rows"] == {"done": 0, "pending": 0, "failed": 1}
    assert finished["errors"][0]["error"].startswith("Request failed (400)")


def test_new_empty_experiment_has_a_table_and_meta_can_change(client: TestClient, key: str) -> None:
    _, version_id = new_prompt(client, key)
    dataset_id, _ = new_dataset(client, key, version_id, ["Faro"])
    experiment_id = data(
        client.post(
            f"{V1}/new-empty",
            json={"metadata": {"name": "blank"}, "datasetId": dataset_id},
            headers=auth(key),
        )
    )["experimentId"]
    experiment = query(client, key, experiment_id)
    assert experiment["tableId"]
    assert experiment["hypotheses"] == []
    assert experiment["meta"] == {"name": "blank"}
    assert experiment["dataset"]["rows"][0].keys() == {"rowId", "scores"}  # no inputs unless asked

    updated = data(
        client.post(
            f"{V1}/update-meta",
            json={"experimentId": experiment_id, "meta": {"name": "b"}},
            headers=auth(key),
        )
    )
    assert updated == [{"id": experiment_id}]
    assert query(client, key, experiment_id)["meta"] == {"name": "b"}
    hypothesis = _hypothesis(client, key, experiment_id, version_id, status="COMPLETED")
    assert query(client, key, experiment_id)["hypotheses"][0]["id"] == hypothesis


def test_query_filters_by_id_and_prompt(client: TestClient, key: str) -> None:
    first_prompt, first_version = new_prompt(client, key, "first")
    _, second_version = new_prompt(client, key, "second")
    dataset_id, _ = new_dataset(client, key, first_version, [])

    def made(version_id: str) -> str:
        body = {"datasetId": dataset_id, "promptVersion": version_id, "model": "m", "providerKeyId": "NOKEY"}
        return str(data(client.post(V1, json=body, headers=auth(key)))["experimentId"])

    one, two = made(first_version), made(second_version)

    def found(filter_node: Any) -> list[str]:
        answer = data(client.post(f"{V1}/query", json={"filter": filter_node}, headers=auth(key)))
        return [item["id"] for item in answer]

    assert found("all") == [two, one]
    assert found({"experiment": {"prompt_v2": {"equals": first_prompt}}}) == [one]
    either = {
        "left": {"experiment": {"id": {"equals": one}}},
        "operator": "or",
        "right": {"experiment": {"id": {"equals": two}}},
    }
    assert sorted(found(either)) == sorted([one, two])
    bad = client.post(f"{V1}/query", json={"filter": {"request": {"id": {"equals": one}}}}, headers=auth(key))
    assert bad.status_code == 400
    assert "experiment" in bad.json()["error"]
    wrong_include = client.post(
        f"{V1}/query", json={"filter": "all", "include": {"inputs": False}}, headers=auth(key)
    )
    assert wrong_include.status_code == 422


def test_evaluator_routes_act_on_v2_experiments(client: TestClient, key: str) -> None:
    experiment_id = data(client.post(f"{BASE}/create/empty", headers=auth(key)))["experimentId"]
    evaluator = data(
        client.post(
            "/v1/evaluator",
            json={"name": "ok", "scoring_type": "LLM-BOOLEAN", "llm_template": judge_template("ok")},
            headers=auth(key),
        ),
        201,
    )["id"]
    path = f"{V1}/{experiment_id}/evaluators"
    assert data(client.post(path, json={"evaluatorId": evaluator}, headers=auth(key))) is None
    assert [item["id"] for item in data(client.get(path, headers=auth(key)))] == [evaluator]
    assert [
        item["id"] for item in data(client.get(f"{BASE}/{experiment_id}/evaluators", headers=auth(key)))
    ] == [evaluator]
    assert client.post(f"{path}/run", headers=auth(key)).json() == {"data": None, "error": None}
    assert data(client.delete(f"{path}/{evaluator}", headers=auth(key))) is None
    assert data(client.get(path, headers=auth(key))) == []


def test_organizations_see_only_their_table_experiments(client: TestClient, make_key: KeyFactory) -> None:
    mine, theirs = make_key("acme"), make_key("globex")
    prompt_id, version_id = new_prompt(client, mine)
    dataset_id, _ = new_dataset(client, mine, version_id, ["Lisbon"])
    body = {
        "datasetId": dataset_id,
        "promptVersion": version_id,
        "model": "m",
        "providerKeyId": "NOKEY",
        "meta": {"prompt_id": prompt_id},
    }
    experiment_id = data(client.post(V1, json=body, headers=auth(mine)))["experimentId"]
    [hypothesis] = query(client, mine, experiment_id)["hypotheses"]

    assert data(client.post(f"{V1}/query", json={"filter": "all"}, headers=auth(theirs))) == []
    _, their_version = new_prompt(client, theirs)
    hypothesis_body = {
        "experimentId": experiment_id,
        "model": "m",
        "promptVersion": their_version,
        "providerKeyId": "NOKEY",
        "status": "PENDING",
    }
    calls = [
        ("POST", V1, {**body, "promptVersion": their_version}),  # my dataset
        ("POST", f"{V1}/new-empty", {"metadata": {}, "datasetId": dataset_id}),
        ("POST", f"{V1}/hypothesis", hypothesis_body),  # my experiment
        ("POST", f"{V1}/update-meta", {"experimentId": experiment_id, "meta": {}}),
        ("POST", f"{V1}/hypothesis/{hypothesis['id']}/scores/query", None),
        ("POST", f"{V1}/hypothesis/{hypothesis['id']}/run", None),
        ("GET", f"{V1}/hypothesis/{hypothesis['id']}/run", None),
    ]
    for method, path, payload in calls:
        answer = client.request(method, path, json=payload, headers=auth(theirs))
        assert answer.status_code == 404, (method, path, answer.text)
    # A hypothesis of theirs cannot use my version either.
    their_dataset, _ = new_dataset(client, theirs, their_version, [])
    mixed = {"datasetId": their_dataset, "promptVersion": version_id, "model": "m", "providerKeyId": "NOKEY"}
    assert client.post(V1, json=mixed, headers=auth(theirs)).status_code == 404
    assert (
        data(client.get(f"/v1/prompt/{prompt_id}/experiments", headers=auth(mine)))[0]["id"] == experiment_id
    )


def test_bad_bodies_are_refused_and_write_nothing(client: TestClient, key: str) -> None:
    _, version_id = new_prompt(client, key)
    dataset_id, _ = new_dataset(client, key, version_id, [])
    good = {"datasetId": dataset_id, "promptVersion": version_id, "model": "m", "providerKeyId": "NOKEY"}
    cases = [
        (V1, {**good, "extra": 1}, 422),
        (V1, {**good, "model": "  "}, 400),
        (V1, {**good, "model": "gpt\u0000"}, 400),
        (V1, {**good, "providerKeyId": "k\u0000"}, 400),
        (V1, {**good, "meta": {"big": 2**70}}, 400),
        (V1, {**good, "datasetId": "not-a-uuid"}, 404),
        (V1, {**good, "promptVersion": UNKNOWN}, 404),
        (V1, {**good, "datasetId": UNKNOWN}, 404),
        (f"{V1}/new-empty", {"metadata": {"a": 1}, "datasetId": dataset_id}, 422),
        (f"{V1}/hypothesis", {**good, "experimentId": UNKNOWN, "status": "PENDING"}, 422),
        (f"{V1}/update-meta", {"experimentId": UNKNOWN, "meta": {}}, 404),
        (f"{V1}/query", {}, 422),
        (f"{V1}/query", {"filter": {"experiment": {"name": {"equals": "x"}}}}, 400),
        (f"{V1}/hypothesis/{UNKNOWN}/scores/query", None, 404),
        (f"{V1}/hypothesis/{UNKNOWN}/run", None, 404),
        (f"{V1}/hypothesis/not-a-uuid/run", None, 400),
    ]
    for path, payload, status in cases:
        answer = client.post(path, json=payload, headers=auth(key))
        assert answer.status_code == status, (path, payload, answer.text)
        assert answer.json()["error"] or answer.json().get("message"), answer.text
    assert data(client.post(f"{V1}/query", json={"filter": "all"}, headers=auth(key))) == []
    experiment_id = data(client.post(V1, json=good, headers=auth(key)))["experimentId"]
    hypothesis = query(client, key, experiment_id)["hypotheses"][0]["id"]
    bad_status = {**good, "experimentId": experiment_id, "status": "DONE"}
    bad_status.pop("datasetId")
    assert client.post(f"{V1}/hypothesis", json=bad_status, headers=auth(key)).status_code == 422
    not_a_row = client.post(
        f"{V1}/hypothesis/{hypothesis}/run", json={"datasetRowIds": [UNKNOWN]}, headers=auth(key)
    )
    assert not_a_row.status_code == 404
    assert UNKNOWN in not_a_row.json()["error"]
    assert data(client.get(f"{V1}/hypothesis/{hypothesis}/run", headers=auth(key)))["status"] == "PENDING"
