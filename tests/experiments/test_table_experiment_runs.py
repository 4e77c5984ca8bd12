"""Runs of a table experiment's hypothesis (``POST /v1/experiment/hypothesis/{id}/run``) and what they
leave in the experiment's tables: statuses, failures kept per row, cells of skipped rows, columns added
after a run, and pages of results naming more requests than one statement can bind."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from experiments.support import data, wait_for
from experiments.table_support import V1, new_dataset, new_prompt, query
from heliograph.dev.fake_provider import FakeProvider
from heliograph.storage import request_repo
from support.http import auth


def _experiment(client: TestClient, key: str, cities: list[str], **hypothesis: Any) -> dict[str, str]:
    """A prompt, a dataset of one row per city, an experiment over it with an empty table, and a
    hypothesis (gpt-4o-mini over version 1.0, unless told otherwise)."""
    prompt_id, version_id = new_prompt(client, key)
    dataset_id, _ = new_dataset(client, key, version_id, cities)
    experiment_id = data(
        client.post(f"{V1}/new-empty", json={"metadata": {}, "datasetId": dataset_id}, headers=auth(key))
    )["experimentId"]
    body = {
        "experimentId": experiment_id,
        "model": "gpt-4o-mini",
        "promptVersion": version_id,
        "providerKeyId": "NOKEY",
        "status": "PENDING",
        **hypothesis,
    }
    hypothesis_id = data(client.post(f"{V1}/hypothesis", json=body, headers=auth(key)))["hypothesisId"]
    table_id = query(client, key, experiment_id)["tableId"]
    # new-empty's table has no columns; rows need one to have cells.
    inputs = {"columnName": "inputs", "columnType": "input"}
    assert client.post(f"{V1}/table/{table_id}/column", json=inputs, headers=auth(key)).status_code == 204
    return {
        "prompt": prompt_id,
        "version": version_id,
        "dataset": dataset_id,
        "experiment": experiment_id,
        "hypothesis": hypothesis_id,
        "table": table_id,
    }


def _run(client: TestClient, key: str, hypothesis_id: str, body: Any = None) -> dict[str, Any]:
    data(client.post(f"{V1}/hypothesis/{hypothesis_id}/run", json=body, headers=auth(key)))

    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = data(client.get(f"{V1}/hypothesis/{hypothesis_id}/run", headers=auth(key)))
        return run if run["status"] != "RUNNING" else None

    finished: dict[str, Any] = wait_for(done)
    return finished


def _rows(client: TestClient, key: str, made: dict[str, str]) -> dict[str, str]:
    """The dataset's rows by their city."""
    rows = query(client, key, made["experiment"], inputs=True)["dataset"]["rows"]
    return {row["inputRecord"]["inputs"]["city"]: row["rowId"] for row in rows}


def _column_cells(client: TestClient, key: str, table_id: str, name: str) -> list[dict[str, Any]]:
    table = data(client.post(f"{V1}/table/{table_id}/query", headers=auth(key)))
    cells: list[dict[str, Any]] = next(c for c in table["columns"] if c["columnName"] == name)["cells"]
    return cells


def _table_rows(client: TestClient, key: str, made: dict[str, str], cities: list[str]) -> None:
    for city in cities:
        body = {"promptVersionId": made["version"], "inputs": {"city": city}}
        data(client.post(f"{V1}/table/{made['table']}/row/new", json=body, headers=auth(key)))


def test_running_some_rows_again_keeps_the_other_rows_failures(
    client: TestClient, key: str, fake: FakeProvider
) -> None:
    made = _experiment(client, key, ["Lisbon", "fake-status: 400"])
    failed = _run(client, key, made["hypothesis"])
    assert failed["status"] == "FAILED"
    assert failed["rows"] == {"done": 1, "pending": 0, "failed": 1}
    lisbon = _rows(client, key, made)["Lisbon"]
    again = _run(client, key, made["hypothesis"], {"datasetRowIds": [lisbon]})
    assert again["status"] == "FAILED"
    assert again["rows"] == {"done": 1, "pending": 0, "failed": 1}
    assert [error["datasetRowId"] for error in again["errors"]] == [
        _rows(client, key, made)["fake-status: 400"]
    ]
    empty = client.post(
        f"{V1}/hypothesis/{made['hypothesis']}/run", json={"datasetRowIds": []}, headers=auth(key)
    )
    assert empty.status_code == 400
    assert "datasetRowIds" in empty.json()["error"]


def test_a_hypothesis_keeps_the_status_it_was_created_with_until_it_runs(
    client: TestClient, key: str
) -> None:
    made = _experiment(client, key, ["Lisbon"], status="RUNNING")
    progress = data(client.get(f"{V1}/hypothesis/{made['hypothesis']}/run", headers=auth(key)))
    assert progress["status"] == "RUNNING"
    assert progress["rows"] == {"done": 0, "pending": 0, "failed": 0}
    assert query(client, key, made["experiment"])["hypotheses"][0]["status"] == "RUNNING"


def test_rows_that_cannot_run_mark_their_cells_failed(
    client: TestClient, key: str, fake: FakeProvider
) -> None:
    made = _experiment(client, key, [])
    _table_rows(client, key, made, ["Lisbon", "Porto"])
    # The hypothesis runs a version that is then deleted.
    derived = data(
        client.post(
            f"/v1/prompt/version/{made['version']}/subversion",
            json={"newHeliconeTemplate": {"model": "gpt-4o", "messages": []}, "isMajorVersion": False},
            headers=auth(key),
        ),
        201,
    )["id"]
    body = {
        "experimentId": made["experiment"],
        "model": "gpt-4o-mini",
        "promptVersion": derived,
        "providerKeyId": "NOKEY",
        "status": "PENDING",
    }
    hypothesis = data(client.post(f"{V1}/hypothesis", json=body, headers=auth(key)))["hypothesisId"]
    column = {"columnName": "derived", "columnType": "experiment", "hypothesisId": hypothesis}
    assert (
        client.post(f"{V1}/table/{made['table']}/column", json=column, headers=auth(key)).status_code == 204
    )
    assert client.delete(f"/v1/prompt/version/{derived}", headers=auth(key)).status_code in (200, 204)

    finished = _run(client, key, hypothesis)
    assert finished["status"] == "FAILED"
    assert finished["rows"]["failed"] == 2
    for cell in _column_cells(client, key, made["table"], "derived"):
        assert cell["status"] == "failed"
        assert "was deleted" in cell["metadata"]["error"]


def test_deleted_rows_are_not_run_and_a_later_column_shows_earlier_results(
    client: TestClient, key: str, fake: FakeProvider
) -> None:
    made = _experiment(client, key, [])
    _table_rows(client, key, made, ["Lisbon", "Porto", "Faro"])
    assert client.delete(f"{V1}/table/{made['table']}/row/2", headers=auth(key)).status_code == 200
    finished = _run(client, key, made["hypothesis"])
    assert finished == {
        "hypothesisId": made["hypothesis"],
        "status": "COMPLETED",
        "rows": {"done": 2, "pending": 0, "failed": 0},
        "errors": [],
    }
    # The column comes after the run: it shows the runs' requests at once, none for the deleted row.
    column = {"columnName": "mini", "columnType": "experiment", "hypothesisId": made["hypothesis"]}
    assert (
        client.post(f"{V1}/table/{made['table']}/column", json=column, headers=auth(key)).status_code == 204
    )
    cells = {cell["rowIndex"]: cell for cell in _column_cells(client, key, made["table"], "mini")}
    runs = query(client, key, made["experiment"])["hypotheses"][0]["runs"]
    assert sorted(cells[index]["requestId"] for index in (0, 1)) == sorted(
        run["resultRequestId"] for run in runs
    )
    assert all(cells[index]["status"] == "success" for index in (0, 1))
    assert cells[2]["value"] is None
    assert cells[2]["metadata"]["deleted"] is True


def test_request_lookups_bind_ids_in_chunks(engine: sa.Engine, client: TestClient, key: str) -> None:
    """A page of experiment results can name more requests than one statement can bind (SQLite 32,766,
    PostgreSQL 65,535 parameters)."""
    with engine.connect() as conn:
        found = request_repo.get_requests(conn, 1, [uuid.uuid4() for _ in range(70_000)], with_bodies=True)
        assert found == []
        found = request_repo.get_requests(
            conn, 1, [uuid.uuid4() for _ in range(70_000)], with_bodies=False, summary=True
        )
        assert found == []


def test_a_run_of_only_deleted_rows_completes(client: TestClient, key: str) -> None:
    made = _experiment(client, key, [])
    _table_rows(client, key, made, ["Lisbon"])
    row_id = _column_cells(client, key, made["table"], "inputs")[0]["metadata"]["datasetRowId"]
    assert client.delete(f"{V1}/table/{made['table']}/row/0", headers=auth(key)).status_code == 200
    finished = _run(client, key, made["hypothesis"], {"datasetRowIds": [row_id]})
    assert finished["status"] == "COMPLETED"
    assert finished["rows"] == {"done": 0, "pending": 0, "failed": 0}


def test_a_dataset_row_shown_twice_stays_live_while_one_of_its_rows_is(
    client: TestClient, key: str, fake: FakeProvider
) -> None:
    made = _experiment(client, key, [])
    _table_rows(client, key, made, ["Lisbon"])
    column = {"columnName": "mini", "columnType": "experiment", "hypothesisId": made["hypothesis"]}
    assert (
        client.post(f"{V1}/table/{made['table']}/column", json=column, headers=auth(key)).status_code == 204
    )
    first = _run(client, key, made["hypothesis"])
    assert first["rows"]["done"] == 1
    [original] = _column_cells(client, key, made["table"], "mini")
    meta = _column_cells(client, key, made["table"], "inputs")[0]["metadata"]
    # The same input record again, as a second table row: it shows the existing result at once.
    again = {
        "inputRecordId": meta["inputId"],
        "inputs": {"city": "Lisbon"},
        "datasetId": made["dataset"],
        "cells": [],
    }
    data(
        client.post(f"{V1}/table/{made['table']}/row/insert/batch", json={"rows": [again]}, headers=auth(key))
    )
    cells = {cell["rowIndex"]: cell for cell in _column_cells(client, key, made["table"], "mini")}
    assert cells[1]["requestId"] == original["requestId"]
    assert cells[1]["metadata"]["datasetRowId"] == meta["datasetRowId"]
    # Deleting one of the two rows leaves the dataset row live: running it again fills the other.
    assert client.delete(f"{V1}/table/{made['table']}/row/1", headers=auth(key)).status_code == 200
    _run(client, key, made["hypothesis"], {"datasetRowIds": [meta["datasetRowId"]]})
    cells = {cell["rowIndex"]: cell for cell in _column_cells(client, key, made["table"], "mini")}
    assert cells[0]["requestId"] != original["requestId"]
    assert cells[1]["requestId"] == original["requestId"]  # deleted: not filled again
