"""The 24 `/v2/experiment` operations: Helicone's paths and operation ids, every experiment scoped to its
organization, bad bodies answered with a 4xx naming the problem, cells routed to their model's provider."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from evaluators.support import judge_template
from experiments.support import BASE, data
from heliograph.dev.fake_provider import FakeProvider
from support.http import auth

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "helicone_openapi_paths.json"
# Helicone's spec gives this operation id to the prompt API's DELETE /v1/prompt/version/{id} too; ids
# must be unique in an OpenAPI document, so ours is renamed (docs/compatibility.md).
RENAMED = {
    (
        "/v2/experiment/{experimentId}/prompt-version/{promptVersionId}",
        "delete",
    ): "DeleteExperimentPromptVersion"
}
UNKNOWN = "00000000-0000-4000-8000-000000000000"
KeyFactory = Callable[..., str]


def test_every_helicone_experiment_operation_exists(client: TestClient) -> None:
    helicone = json.loads(REFERENCE.read_text())["paths"]
    ours = client.get("/openapi.json").json()["paths"]
    wanted = {(p, m) for p, ops in helicone.items() if p.startswith("/v2/experiment") for m in ops}
    assert len(wanted) == 24
    assert {(p, m) for p, m in wanted if m not in ours.get(p, {})} == set()
    ids = {(p, m): ours[p][m]["operationId"] for p, m in wanted}
    expected = {(p, m): RENAMED.get((p, m), helicone[p][m]["operationId"]) for p, m in wanted}
    assert ids == expected


def _empty(client: TestClient, key: str) -> tuple[str, str]:
    experiment_id = data(client.post(f"{BASE}/create/empty", headers=auth(key)))["experimentId"]
    copied = data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))["copied_original_prompt_version"]
    return experiment_id, copied


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]
    assert message
    return message


def test_organizations_see_only_their_experiments(client: TestClient, make_key: KeyFactory) -> None:
    mine, theirs = make_key("acme"), make_key("globex")
    experiment_id, copied = _empty(client, mine)
    row = data(
        client.post(f"{BASE}/{experiment_id}/add-manual-row", json={"inputs": {"a": "1"}}, headers=auth(mine))
    )
    evaluator = data(
        client.post(
            "/v1/evaluator",
            json={"name": "ok", "scoring_type": "LLM-BOOLEAN", "llm_template": judge_template("ok")},
            headers=auth(mine),
        ),
        201,
    )["id"]
    assert data(client.get(BASE, headers=auth(theirs))) == []
    calls = [
        ("GET", f"{BASE}/{experiment_id}", None),
        ("DELETE", f"{BASE}/{experiment_id}", None),
        ("GET", f"{BASE}/{experiment_id}/prompt-versions", None),
        ("GET", f"{BASE}/{experiment_id}/input-keys", None),
        ("POST", f"{BASE}/{experiment_id}/add-manual-row", {"inputs": {}}),
        ("POST", f"{BASE}/{experiment_id}/row/update", {"inputRecordId": row, "inputs": {"a": "2"}}),
        ("DELETE", f"{BASE}/{experiment_id}/rows", {"inputRecordIds": [row]}),
        ("POST", f"{BASE}/{experiment_id}/run-hypothesis", {"promptVersionId": copied, "inputRecordId": row}),
        ("POST", f"{BASE}/{experiment_id}/run", None),
        ("POST", f"{BASE}/{experiment_id}/evaluators", {"evaluatorId": evaluator}),
        ("POST", f"{BASE}/{experiment_id}/evaluators/run", None),
        ("GET", f"{BASE}/{experiment_id}/should-run-evaluators", None),
        ("GET", f"{BASE}/{experiment_id}/{copied}/scores", None),
        ("POST", f"{BASE}/new", {"name": "copy", "originalPromptVersion": copied}),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body, headers=auth(theirs))
        assert response.status_code == 404, (method, path, response.text)
    # Their own experiment cannot reach into mine: my row, my version, my evaluator.
    other, other_copied = _empty(client, theirs)
    batch = {"rows": [{"inputRecordId": row, "inputs": {}, "autoInputs": []}]}
    assert (
        client.post(f"{BASE}/{other}/row/insert/batch", json=batch, headers=auth(theirs)).status_code == 404
    )
    run = {"promptVersionId": copied, "inputRecordId": row}
    assert client.post(f"{BASE}/{other}/run-hypothesis", json=run, headers=auth(theirs)).status_code == 404
    attach = {"evaluatorId": evaluator}
    assert client.post(f"{BASE}/{other}/evaluators", json=attach, headers=auth(theirs)).status_code == 404
    parent = {"parentPromptVersionId": copied, "newHeliconeTemplate": {"model": "gpt-4o", "messages": []}}
    assert client.post(f"{BASE}/{other}/prompt-version", json=parent, headers=auth(theirs)).status_code == 404
    # Mine is untouched.
    found = data(client.get(f"{BASE}/{experiment_id}", headers=auth(mine)))
    assert [r["inputs"] for r in found["rows"]] == [{"a": "1"}]
    assert other_copied != copied


def test_bad_bodies_are_refused_with_what_is_wrong(client: TestClient, key: str) -> None:
    experiment_id, copied = _empty(client, key)
    one = f"{BASE}/{experiment_id}"
    row = data(client.post(f"{one}/add-manual-row", json={"inputs": {"a": "1"}}, headers=auth(key)))
    hypothesis = data(
        client.post(
            f"{one}/prompt-version",
            json={
                "parentPromptVersionId": copied,
                "newHeliconeTemplate": {"model": "gpt-4o", "messages": []},
            },
            headers=auth(key),
        )
    )
    post = lambda path, body: client.post(path, json=body, headers=auth(key))  # noqa: E731
    assert "minor version 0" in _error(
        post(f"{BASE}/new", {"name": "x", "originalPromptVersion": hypothesis["id"]}), 400
    )
    _error(post(f"{BASE}/new", {"name": "x", "originalPromptVersion": copied, "extra": 1}), 422)
    _error(post(f"{BASE}/new", {"name": "", "originalPromptVersion": copied}), 400)
    _error(post(f"{one}/add-manual-row", {"inputs": {"a": 1}}), 422)
    _error(post(f"{one}/add-manual-row", {"inputs": {"": "x"}}), 400)
    _error(post(f"{one}/add-manual-rows-batch", {"inputs": [{}] * 10_001}), 422)
    assert "must not be empty" in _error(
        client.request("DELETE", f"{one}/rows", json={"inputRecordIds": []}, headers=auth(key)), 400
    )
    _error(post(f"{one}/row/update", {"inputRecordId": UNKNOWN, "inputs": {}}), 404)
    _error(post(f"{one}/row/update", {"inputRecordId": "nope", "inputs": {}}), 404)
    assert "Original" in _error(client.delete(f"{one}/prompt-version/{copied}", headers=auth(key)), 400)
    _error(client.delete(f"{one}/prompt-version/{UNKNOWN}", headers=auth(key)), 404)
    mismatch = {"parentPromptVersionId": copied, "newHeliconeTemplate": {}, "experimentId": UNKNOWN}
    assert "experiment of the path" in _error(post(f"{one}/prompt-version", mismatch), 400)
    _error(post(f"{one}/evaluators", {"evaluatorId": UNKNOWN}), 404)
    _error(client.delete(f"{one}/evaluators/{UNKNOWN}", headers=auth(key)), 404)
    _error(client.get(f"{one}/run/{UNKNOWN}", headers=auth(key)), 404)
    _error(post(f"{BASE}/create/from-request/{UNKNOWN}", None), 404)
    _error(post(f"{one}/row/insert/dataset/{UNKNOWN}", None), 404)
    # A template that is not a chat body cannot be run.
    text = data(
        post(f"{one}/prompt-version", {"parentPromptVersionId": copied, "newHeliconeTemplate": "just text"})
    )["id"]
    assert (
        _error(post(f"{one}/run-hypothesis", {"promptVersionId": text, "inputRecordId": row}), 400)
        == "Request failed"
    )
    # Removing a hypothesis detaches it; the version itself stays readable.
    assert data(client.delete(f"{one}/prompt-version/{hypothesis['id']}", headers=auth(key))) is None
    assert [v["id"] for v in data(client.get(f"{one}/prompt-versions", headers=auth(key)))] == [copied, text]
    assert (
        data(client.get(f"/v1/prompt/version/{hypothesis['id']}", headers=auth(key)))["experiment_id"] is None
    )


def test_rows_change_and_keep_their_order(client: TestClient, key: str) -> None:
    experiment_id, _ = _empty(client, key)
    one = f"{BASE}/{experiment_id}"
    batch = [{"n": str(i)} for i in range(5)]
    assert (
        data(client.post(f"{one}/add-manual-rows-batch", json={"inputs": batch}, headers=auth(key))) is None
    )
    rows = data(client.get(one, headers=auth(key)))["rows"]
    assert [r["inputs"] for r in rows] == batch
    assert data(client.get(f"{one}/input-keys", headers=auth(key))) == ["n"]
    update = {"inputRecordId": rows[1]["id"], "inputs": {"n": "one", "extra": "x"}}
    assert data(client.post(f"{one}/row/update", json=update, headers=auth(key))) is None
    gone = {"inputRecordIds": [rows[0]["id"], rows[4]["id"]]}
    assert data(client.request("DELETE", f"{one}/rows", json=gone, headers=auth(key))) is None
    rows = data(client.get(one, headers=auth(key)))["rows"]
    assert [r["inputs"] for r in rows] == [{"n": "one", "extra": "x"}, {"n": "2"}, {"n": "3"}]
    assert data(client.get(f"{one}/input-keys", headers=auth(key))) == ["n", "extra"]
    # Copies of existing records keep their inputs and auto inputs, as given.
    copy = {
        "rows": [{"inputRecordId": rows[2]["id"], "inputs": {"n": "copy"}, "autoInputs": [{"role": "user"}]}]
    }
    assert data(client.post(f"{one}/row/insert/batch", json=copy, headers=auth(key))) is None
    last = data(client.get(one, headers=auth(key)))["rows"][-1]
    assert (last["inputs"], last["auto_prompt_inputs"], last["requests"]) == (
        {"n": "copy"},
        [{"role": "user"}],
        [],
    )
    # Deleting the experiment hides it.
    assert data(client.delete(one, headers=auth(key))) is None
    assert data(client.get(BASE, headers=auth(key))) == []
    _error(client.get(one, headers=auth(key)), 404)


def test_cells_go_to_their_models_provider(client: TestClient, key: str, fake: FakeProvider) -> None:
    experiment_id, copied = _empty(client, key)
    one = f"{BASE}/{experiment_id}"
    row = data(client.post(f"{one}/add-manual-row", json={"inputs": {"q": "why"}}, headers=auth(key)))

    def hypothesis(model: str) -> str:
        template = {
            "model": model,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": 'Answer: <helicone-prompt-input key="q" />'},
            ],
            "stream": True,
        }
        body = {"parentPromptVersionId": copied, "newHeliconeTemplate": template}
        version: str = data(client.post(f"{one}/prompt-version", json=body, headers=auth(key)))["id"]
        return version

    claude = hypothesis("claude-3-5-sonnet-20241022")
    data(
        client.post(
            f"{one}/run-hypothesis", json={"promptVersionId": claude, "inputRecordId": row}, headers=auth(key)
        )
    )
    sent = fake.requests[-1]
    assert (sent.path, sent.headers["x-api-key"]) == ("/v1/messages", "sk-fake-anthropic")
    assert sent.body["system"] == "Be brief."
    assert sent.body["messages"] == [{"role": "user", "content": "Answer: why"}]
    assert "stream" not in sent.body  # a cell reads one JSON answer

    unknown = hypothesis("my-own-model")  # not in the price table: the default provider, OpenRouter
    answer = client.post(
        f"{one}/run-hypothesis", json={"promptVersionId": unknown, "inputRecordId": row}, headers=auth(key)
    )
    assert _error(answer, 400) == "Request failed"
    assert "HELIOGRAPH_PROVIDER_KEY_OPENROUTER" in answer.json()["details"]["reason"]


def test_prompt_api_versions_join_an_experiment(client: TestClient, key: str) -> None:
    """``experimentId`` on the prompt API's subversion and edit-template ties the version to the
    experiment and merges the template's input keys into it."""
    experiment_id, copied = _empty(client, key)
    template = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": '<helicone-prompt-input key="topic" />'}],
    }
    made = data(
        client.post(
            f"/v1/prompt/version/{copied}/subversion",
            json={"newHeliconeTemplate": template, "experimentId": experiment_id},
            headers=auth(key),
        ),
        201,
    )
    assert made["experiment_id"] == experiment_id
    columns = data(client.get(f"{BASE}/{experiment_id}/prompt-versions", headers=auth(key)))
    assert [c["id"] for c in columns] == [copied, made["id"]]
    edited = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": '<helicone-prompt-input key="tone" />'}],
    }
    response = client.post(
        f"/v1/prompt/version/{made['id']}/edit-template",
        json={"heliconeTemplate": edited, "experimentId": experiment_id},
        headers=auth(key),
    )
    assert response.status_code == 201, response.text
    assert data(client.get(f"{BASE}/{experiment_id}/input-keys", headers=auth(key))) == ["topic", "tone"]
