"""The loop Helicone sells, over HTTP on both databases: real requests through the gateway (the real
`openai` client), a dataset of them, an experiment over their prompt, a hypothesis, every cell run in the
background, an evaluator attached and run, the per-version aggregates read."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from evaluators.support import judge_template
from experiments.support import BASE, ask, data, wait_for
from heliograph.dev.fake_provider import REPLY, FakeProvider
from support.http import auth

HYPOTHESIS = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a terse travel guide."},
        {"role": "user", "content": 'One tip for <helicone-prompt-input key="city" />.'},
    ],
}


def _experiment(client: TestClient, key: str, experiment_id: str) -> dict[str, Any]:
    found: dict[str, Any] = data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))
    return found


def _finished_run(client: TestClient, key: str, experiment_id: str, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = data(client.get(f"{BASE}/{experiment_id}/run/{run_id}", headers=auth(key)))
        return run if run["status"] != "running" else None

    finished: dict[str, Any] = wait_for(done)
    return finished


def test_from_logged_requests_to_scored_hypotheses(client: TestClient, key: str, fake: FakeProvider) -> None:
    cities = ["Lisbon", "Porto", "Faro"]
    request_ids = [ask(client, key, city) for city in cities]
    inputs = data(client.get(f"/v1/request/{request_ids[0]}/inputs", headers=auth(key)))
    original = inputs["version_id"]

    dataset = data(
        client.post(
            "/v1/helicone-dataset",
            json={"datasetName": "trips", "requestIds": request_ids},
            headers=auth(key),
        )
    )["datasetId"]
    experiment_id = data(
        client.post(
            f"{BASE}/new", json={"name": "terse", "originalPromptVersion": original}, headers=auth(key)
        )
    )["experimentId"]
    assert (
        data(client.post(f"{BASE}/{experiment_id}/row/insert/dataset/{dataset}", headers=auth(key))) is None
    )

    experiment = _experiment(client, key, experiment_id)
    assert experiment["name"] == "terse"
    assert experiment["original_prompt_version"] == original
    assert experiment["input_keys"] == ["city"]
    rows = experiment["rows"]
    assert [row["inputs"] for row in rows] == [{"city": city} for city in cities]
    copied = experiment["copied_original_prompt_version"]
    # Each row came from a logged request, which is its original output in the "Original" column.
    assert [
        [(o["request_id"], o["is_original"], o["prompt_version_id"]) for o in row["requests"]] for row in rows
    ] == [[(request_id, True, copied)] for request_id in request_ids]

    versions = data(client.get(f"{BASE}/{experiment_id}/prompt-versions", headers=auth(key)))
    assert [(v["id"], v["metadata"]["label"]) for v in versions] == [(copied, "Original")]
    hypothesis = data(
        client.post(
            f"{BASE}/{experiment_id}/prompt-version",
            json={
                "parentPromptVersionId": copied,
                "newHeliconeTemplate": HYPOTHESIS,
                "metadata": {"label": "terse"},
            },
            headers=auth(key),
        )
    )
    assert hypothesis["experiment_id"] == experiment_id
    assert hypothesis["parent_prompt_version"] == copied
    listed = data(client.get(f"{BASE}/{experiment_id}/prompt-versions", headers=auth(key)))
    assert [v["id"] for v in listed] == [copied, hypothesis["id"]]
    # Experiment versions stay out of the prompt's version list unless asked for.
    prompt_id = hypothesis["prompt_v2"]
    plain = data(client.post(f"/v1/prompt/{prompt_id}/versions/query", json={}, headers=auth(key)))
    assert [v["id"] for v in plain] == [original]

    sent_before = len(fake.requests)
    run = data(client.post(f"{BASE}/{experiment_id}/run", headers=auth(key)))
    assert run["cells"]["total"] == 3  # the hypothesis column; the Original column has its outputs
    finished = _finished_run(client, key, experiment_id, run["runId"])
    assert finished["status"] == "done", finished
    assert finished["cells"] == {"total": 3, "done": 3, "pending": 0, "failed": 0}
    sent = [r.body for r in fake.requests[sent_before:]]
    assert sorted(body["messages"][1]["content"] for body in sent) == [
        f"One tip for {c}." for c in sorted(cities)
    ]

    rows = _experiment(client, key, experiment_id)["rows"]
    outputs = {row["inputs"]["city"]: [o for o in row["requests"] if not o["is_original"]] for row in rows}
    assert all(
        len(found) == 1 and found[0]["prompt_version_id"] == hypothesis["id"] for found in outputs.values()
    )
    cell_request = outputs["Porto"][0]["request_id"]
    logged = data(client.get(f"/v1/request/{cell_request}?includeBody=true", headers=auth(key)))
    assert logged["properties"]["Helicone-Experiment-Id"] == experiment_id
    assert logged["response_body"]["choices"][0]["message"]["content"] == REPLY
    # A second run finds nothing missing.
    assert data(client.post(f"{BASE}/{experiment_id}/run", headers=auth(key)))["cells"]["total"] == 0

    # An evaluator: attached, missing scores seen, run, aggregates per version.
    evaluator = client.post(
        "/v1/evaluator",
        json={"name": "Helpful", "scoring_type": "LLM-BOOLEAN", "llm_template": judge_template("helpful")},
        headers=auth(key),
    ).json()["data"]["id"]
    assert (
        data(
            client.post(
                f"{BASE}/{experiment_id}/evaluators", json={"evaluatorId": evaluator}, headers=auth(key)
            )
        )
        is None
    )
    attached = data(client.get(f"{BASE}/{experiment_id}/evaluators", headers=auth(key)))
    assert [e["id"] for e in attached] == [evaluator]
    assert data(client.get(f"{BASE}/{experiment_id}/should-run-evaluators", headers=auth(key))) is True
    assert data(client.post(f"{BASE}/{experiment_id}/evaluators/run", headers=auth(key))) is None
    assert data(client.get(f"{BASE}/{experiment_id}/should-run-evaluators", headers=auth(key))) is False

    scores = data(client.get(f"{BASE}/{experiment_id}/{hypothesis['id']}/scores", headers=auth(key)))
    assert scores == {"helpful-hcone-bool": {"value": 1.0, "valueType": "number", "max": 1.0, "min": 1.0}}
    originals = data(client.get(f"{BASE}/{experiment_id}/{copied}/scores", headers=auth(key)))
    assert originals["helpful-hcone-bool"]["value"] == 1.0
    one = data(client.get(f"{BASE}/{experiment_id}/{cell_request}/helpful-hcone-bool", headers=auth(key)))
    assert one == {"value": 1.0, "valueType": "number", "max": 1.0, "min": 1.0}
    assert data(client.get(f"{BASE}/{experiment_id}/{cell_request}/missing", headers=auth(key))) is None


def test_a_run_scores_outputs_as_they_arrive(client: TestClient, key: str) -> None:
    experiment_id = data(client.post(f"{BASE}/create/empty", headers=auth(key)))["experimentId"]
    experiment = _experiment(client, key, experiment_id)
    evaluator = client.post(
        "/v1/evaluator",
        json={
            "name": "quality",
            "scoring_type": "LLM-RANGE",
            "llm_template": judge_template("quality", "range", say="fake-score: 7"),
        },
        headers=auth(key),
    ).json()["data"]["id"]
    data(
        client.post(f"{BASE}/{experiment_id}/evaluators", json={"evaluatorId": evaluator}, headers=auth(key))
    )
    data(
        client.post(
            f"{BASE}/{experiment_id}/add-manual-rows-batch",
            json={"inputs": [{"q": "a"}, {"q": "b"}]},
            headers=auth(key),
        )
    )

    run = data(client.post(f"{BASE}/{experiment_id}/run", headers=auth(key)))
    assert run["cells"]["total"] == 2
    finished = _finished_run(client, key, experiment_id, run["runId"])
    assert finished["status"] == "done", finished
    assert finished["evaluations"] == {"pending": 0, "failed": 0}
    copied = experiment["copied_original_prompt_version"]
    scores = data(client.get(f"{BASE}/{experiment_id}/{copied}/scores", headers=auth(key)))
    assert scores == {"quality": {"value": 7.0, "valueType": "number", "max": 7.0, "min": 7.0}}
    assert data(client.get(f"{BASE}/{experiment_id}/should-run-evaluators", headers=auth(key))) is False


def test_run_hypothesis_runs_one_cell_synchronously(client: TestClient, key: str, fake: FakeProvider) -> None:
    experiment_id = data(client.post(f"{BASE}/create/empty", headers=auth(key)))["experimentId"]
    copied = _experiment(client, key, experiment_id)["copied_original_prompt_version"]
    row = data(
        client.post(f"{BASE}/{experiment_id}/add-manual-row", json={"inputs": {"x": "1"}}, headers=auth(key))
    )
    request_id = data(
        client.post(
            f"{BASE}/{experiment_id}/run-hypothesis",
            json={"promptVersionId": copied, "inputRecordId": row},
            headers=auth(key),
        )
    )
    assert fake.requests[-1].path == "/v1/chat/completions"  # gpt-4o: the price table's OPENAI
    assert fake.requests[-1].body["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."}
    ]
    # The answer is read back at once: the log is committed before run-hypothesis answers.
    logged = data(client.get(f"/v1/request/{request_id}", headers=auth(key)))
    assert logged["properties"]["Helicone-Experiment-Id"] == experiment_id
    [found] = _experiment(client, key, experiment_id)["rows"]
    assert [(o["request_id"], o["is_original"]) for o in found["requests"]] == [(request_id, False)]
    # Running it again replaces the cell's output.
    again = data(
        client.post(
            f"{BASE}/{experiment_id}/run-hypothesis",
            json={"promptVersionId": copied, "inputRecordId": row},
            headers=auth(key),
        )
    )
    [found] = _experiment(client, key, experiment_id)["rows"]
    assert [o["request_id"] for o in found["requests"]] == [again]


def test_a_provider_error_is_request_failed_with_its_status_and_logged(client: TestClient, key: str) -> None:
    experiment_id = data(client.post(f"{BASE}/create/empty", headers=auth(key)))["experimentId"]
    copied = _experiment(client, key, experiment_id)["copied_original_prompt_version"]
    failing = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "fake-status: 503"}]}
    hypothesis = data(
        client.post(
            f"{BASE}/{experiment_id}/prompt-version",
            json={"parentPromptVersionId": copied, "newHeliconeTemplate": failing},
            headers=auth(key),
        )
    )["id"]
    row = data(client.post(f"{BASE}/{experiment_id}/add-manual-row", json={"inputs": {}}, headers=auth(key)))
    answer = client.post(
        f"{BASE}/{experiment_id}/run-hypothesis",
        json={"promptVersionId": hypothesis, "inputRecordId": row},
        headers=auth(key),
    )
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["error"] == "Request failed"
    assert body["details"]["status"] == 503
    failed_call = data(client.get(f"/v1/request/{body['details']['requestId']}", headers=auth(key)))
    assert failed_call["response_status"] == 503
    assert failed_call["properties"]["Helicone-Experiment-Id"] == experiment_id
    [found] = _experiment(client, key, experiment_id)["rows"]
    assert found["requests"] == []

    # In a background run the failure is retried (job_max_attempts is 2 here), then reported.
    run = data(client.post(f"{BASE}/{experiment_id}/run", headers=auth(key)))
    assert run["cells"]["total"] == 2
    finished = _finished_run(client, key, experiment_id, run["runId"])
    assert finished["status"] == "failed"
    assert finished["cells"] == {"total": 2, "done": 1, "pending": 0, "failed": 1}
    [error] = finished["errors"]
    assert (error["promptVersionId"], error["inputRecordId"], error["attempts"]) == (hypothesis, row, 2)
    assert error["error"].startswith("Request failed (503)")
