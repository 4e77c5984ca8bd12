"""What stays true when users act at once or change an experiment while it runs: one output per cell,
no cell queued twice, no input key lost, scores over the current rows only, removed cells reported, a
deleted experiment's queued work dropped."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from experiments.support import BASE, data, wait_for
from heliograph.app import create_app
from heliograph.settings import Settings
from heliograph.storage.evaluation_tables import jobs
from support.http import auth


def _empty(client: TestClient, key: str) -> tuple[str, str]:
    experiment_id = data(client.post(f"{BASE}/create/empty", headers=auth(key)))["experimentId"]
    copied = data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))["copied_original_prompt_version"]
    return experiment_id, copied


def _hypothesis(client: TestClient, key: str, experiment_id: str, parent: str, text: str) -> str:
    template = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    body = {"parentPromptVersionId": parent, "newHeliconeTemplate": template}
    version: str = data(client.post(f"{BASE}/{experiment_id}/prompt-version", json=body, headers=auth(key)))[
        "id"
    ]
    return version


def _at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


def _finished(client: TestClient, key: str, experiment_id: str, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = data(client.get(f"{BASE}/{experiment_id}/run/{run_id}", headers=auth(key)))
        return run if run["status"] != "running" else None

    found: dict[str, Any] = wait_for(done)
    return found


def test_the_same_cell_run_at_once_keeps_one_output(client: TestClient, key: str) -> None:
    experiment_id, copied = _empty(client, key)
    slow = _hypothesis(client, key, experiment_id, copied, "fake-delay-ms: 150")
    row = data(client.post(f"{BASE}/{experiment_id}/add-manual-row", json={"inputs": {}}, headers=auth(key)))
    cell = {"promptVersionId": slow, "inputRecordId": row}
    answers = _at_once(
        6, lambda _: client.post(f"{BASE}/{experiment_id}/run-hypothesis", json=cell, headers=auth(key))
    )
    assert [answer.status_code for answer in answers] == [200] * 6, [a.text for a in answers]
    [found] = data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))["rows"]
    assert len(found["requests"]) == 1
    assert found["requests"][0]["request_id"] in {answer.json()["data"] for answer in answers}


def test_runs_started_at_once_queue_each_missing_cell_once(client: TestClient, key: str) -> None:
    experiment_id, _copied = _empty(client, key)
    inputs = [{"n": str(n)} for n in range(3)]
    data(
        client.post(
            f"{BASE}/{experiment_id}/add-manual-rows-batch", json={"inputs": inputs}, headers=auth(key)
        )
    )
    runs = _at_once(5, lambda _: data(client.post(f"{BASE}/{experiment_id}/run", headers=auth(key))))
    assert sum(run["cells"]["total"] for run in runs) == 3
    for run in runs:
        _finished(client, key, experiment_id, run["runId"])
    rows = data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))["rows"]
    assert [len(row["requests"]) for row in rows] == [1, 1, 1]


def test_rows_added_at_once_lose_no_input_key(client: TestClient, key: str) -> None:
    experiment_id, _copied = _empty(client, key)
    _at_once(
        8,
        lambda n: data(
            client.post(
                f"{BASE}/{experiment_id}/add-manual-row", json={"inputs": {f"k{n}": "v"}}, headers=auth(key)
            )
        ),
    )
    keys = data(client.get(f"{BASE}/{experiment_id}/input-keys", headers=auth(key)))
    assert sorted(keys) == [f"k{n}" for n in range(8)]


def test_scores_count_only_the_current_rows_and_columns(client: TestClient, key: str) -> None:
    experiment_id, copied = _empty(client, key)
    words = ["yes", "no", "no", "yes"]
    template = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": '<helicone-prompt-input key="w" />'}],
    }
    body = {"parentPromptVersionId": copied, "newHeliconeTemplate": template}
    echo = data(client.post(f"{BASE}/{experiment_id}/prompt-version", json=body, headers=auth(key)))["id"]
    data(
        client.post(
            f"{BASE}/{experiment_id}/add-manual-rows-batch",
            json={"inputs": [{"w": w} for w in words]},
            headers=auth(key),
        )
    )
    check = {
        "name": "says yes",
        "scoring_type": "CHECK",
        "check_config": {
            "_type": "contains",
            "value": "yes",
            "target": {"_type": "prompt-input", "inputKey": "w"},
        },
    }
    evaluator = data(client.post("/v1/evaluator", json=check, headers=auth(key)), 201)["id"]
    data(
        client.post(f"{BASE}/{experiment_id}/evaluators", json={"evaluatorId": evaluator}, headers=auth(key))
    )
    run = data(client.post(f"{BASE}/{experiment_id}/run", headers=auth(key)))
    assert _finished(client, key, experiment_id, run["runId"])["status"] == "done"
    # The check reads the row's input, which evaluators of experiment outputs are given.
    score_key = "says_yes-hcone-bool"
    scores = data(client.get(f"{BASE}/{experiment_id}/{echo}/scores", headers=auth(key)))
    assert scores[score_key]["value"] == 0.5

    rows = data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))["rows"]
    yes_rows = [row["id"] for row in rows if row["inputs"]["w"] == "yes"]
    gone = {"inputRecordIds": yes_rows}
    data(client.request("DELETE", f"{BASE}/{experiment_id}/rows", json=gone, headers=auth(key)))
    scores = data(client.get(f"{BASE}/{experiment_id}/{echo}/scores", headers=auth(key)))
    assert scores[score_key] == {"value": 0.0, "valueType": "number", "max": 0.0, "min": 0.0}
    # A removed column leaves the grid and needs no scores.
    data(client.delete(f"{BASE}/{experiment_id}/prompt-version/{echo}", headers=auth(key)))
    left = data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))["rows"]
    assert all(o["prompt_version_id"] == copied for row in left for o in row["requests"])
    assert data(client.get(f"{BASE}/{experiment_id}/{echo}/scores", headers=auth(key))) == {}
    # Ids that are not rows of the experiment: 404, nothing removed.
    missing = {"inputRecordIds": [left[0]["id"], yes_rows[0]]}
    response = client.request("DELETE", f"{BASE}/{experiment_id}/rows", json=missing, headers=auth(key))
    assert response.status_code == 404, response.text
    assert len(data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))["rows"]) == 2


def test_a_column_removed_during_a_run_is_reported_not_counted_done(
    settings: Settings, engine: sa.Engine, key: str
) -> None:
    with TestClient(
        create_app(settings.model_copy(update={"experiment_concurrency": 1}), db=engine)
    ) as client:
        experiment_id, copied = _empty(client, key)
        data(client.post(f"{BASE}/{experiment_id}/run", headers=auth(key)))  # nothing to run yet
        slow = _hypothesis(client, key, experiment_id, copied, "fake-delay-ms: 300")
        inputs = [{"n": str(n)} for n in range(3)]
        data(
            client.post(
                f"{BASE}/{experiment_id}/add-manual-rows-batch", json={"inputs": inputs}, headers=auth(key)
            )
        )
        run = data(client.post(f"{BASE}/{experiment_id}/run", headers=auth(key)))
        assert run["cells"]["total"] == 6
        data(client.delete(f"{BASE}/{experiment_id}/prompt-version/{slow}", headers=auth(key)))
        finished = _finished(client, key, experiment_id, run["runId"])
        removed = [error for error in finished["errors"] if error["promptVersionId"] == slow]
        assert removed
        assert all(error["error"].startswith("skipped:") for error in removed)
        assert finished["cells"]["done"] + finished["cells"]["failed"] == 6
        assert finished["cells"]["failed"] == len(removed)
        rows = data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))["rows"]
        assert all(o["prompt_version_id"] == copied for row in rows for o in row["requests"])


def test_a_deleted_experiment_drops_its_queued_cells(settings: Settings, engine: sa.Engine, key: str) -> None:
    # No worker runs cells here, so the run's cells stay queued.
    with TestClient(
        create_app(settings.model_copy(update={"experiment_concurrency": 0}), db=engine)
    ) as client:
        experiment_id, _copied = _empty(client, key)
        inputs = [{"n": str(n)} for n in range(4)]
        data(
            client.post(
                f"{BASE}/{experiment_id}/add-manual-rows-batch", json={"inputs": inputs}, headers=auth(key)
            )
        )
        other, _ = _empty(client, key)
        data(client.post(f"{BASE}/{other}/add-manual-row", json={"inputs": {}}, headers=auth(key)))
        assert data(client.post(f"{BASE}/{experiment_id}/run", headers=auth(key)))["cells"]["total"] == 4
        assert data(client.post(f"{BASE}/{other}/run", headers=auth(key)))["cells"]["total"] == 1
        data(client.delete(f"{BASE}/{experiment_id}", headers=auth(key)))
    with engine.connect() as conn:
        subjects = list(
            conn.execute(sa.select(jobs.c.subject).where(jobs.c.kind == "experiment-cell")).scalars()
        )
    assert [subject.split("/")[0] for subject in subjects] == [other]


def test_rows_from_a_dataset_are_not_added_twice(client: TestClient, key: str) -> None:
    from experiments.support import ask

    request_ids = [ask(client, key, city) for city in ("Lisbon", "Porto")]
    inputs = data(client.get(f"/v1/request/{request_ids[0]}/inputs", headers=auth(key)))
    new = {"name": "twice", "originalPromptVersion": inputs["version_id"]}
    experiment_id = data(client.post(f"{BASE}/new", json=new, headers=auth(key)))["experimentId"]
    dataset = data(
        client.post(
            "/v1/helicone-dataset", json={"datasetName": "d", "requestIds": request_ids}, headers=auth(key)
        )
    )["datasetId"]
    for _ in range(2):
        data(client.post(f"{BASE}/{experiment_id}/row/insert/dataset/{dataset}", headers=auth(key)))
    rows = data(client.get(f"{BASE}/{experiment_id}", headers=auth(key)))["rows"]
    assert sorted(row["inputs"]["city"] for row in rows) == ["Lisbon", "Porto"]
    # The rows copy the requests' inputs; a request's own inputs stay the ones its traffic recorded.
    again = data(client.get(f"/v1/request/{request_ids[0]}/inputs", headers=auth(key)))
    assert again["version_id"] == inputs["version_id"]
    # An experiment dataset (input records) is a source too.
    made = client.post(
        "/v1/experiment/dataset",
        json={"datasetName": "records", "requestIds": request_ids[:1], "datasetType": "experiment"},
        headers=auth(key),
    )
    records = data(made)["datasetId"]
    other = data(client.post(f"{BASE}/new", json={**new, "name": "other"}, headers=auth(key)))["experimentId"]
    data(client.post(f"{BASE}/{other}/row/insert/dataset/{records}", headers=auth(key)))
    [row] = data(client.get(f"{BASE}/{other}", headers=auth(key)))["rows"]
    assert row["inputs"] == {"city": "Lisbon"}
    assert [o["request_id"] for o in row["requests"]] == [request_ids[0]]


def test_a_large_run_does_not_hold_up_another_organizations_run(
    settings: Settings, engine: sa.Engine, make_key: Callable[..., str]
) -> None:
    big_key, small_key = make_key("big"), make_key("small")
    with TestClient(
        create_app(settings.model_copy(update={"experiment_concurrency": 1}), db=engine)
    ) as client:
        big, big_copied = _empty(client, big_key)
        _hypothesis(client, big_key, big, big_copied, "fake-delay-ms: 100")
        inputs = [{"n": str(n)} for n in range(15)]
        data(
            client.post(f"{BASE}/{big}/add-manual-rows-batch", json={"inputs": inputs}, headers=auth(big_key))
        )
        big_run = data(client.post(f"{BASE}/{big}/run", headers=auth(big_key)))
        assert big_run["cells"]["total"] == 30

        small, _ = _empty(client, small_key)
        data(client.post(f"{BASE}/{small}/add-manual-row", json={"inputs": {}}, headers=auth(small_key)))
        small_run = data(client.post(f"{BASE}/{small}/run", headers=auth(small_key)))
        assert _finished(client, small_key, small, small_run["runId"])["status"] == "done"
        # The small run took its turn among the first of the big run's cells, not after all of them.
        progress = data(client.get(f"{BASE}/{big}/run/{big_run['runId']}", headers=auth(big_key)))
        assert progress["cells"]["pending"] > 20, progress
        _finished(client, big_key, big, big_run["runId"])
