"""The 10 table routes of Helicone's table-based experiments (``/v1/experiment/table…``, ``/tables/query``)
over HTTP on both databases: their exact answers and statuses, a table's life (rows, columns, cells and
the input records behind them), organizations kept apart, bad bodies refused with nothing written, and
concurrent rows given distinct consecutive indexes."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from evaluators.support import log_chat
from experiments.support import data
from experiments.table_support import V1, new_dataset, new_prompt
from support.http import auth

TABLE = f"{V1}/table"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NEW_TEMPLATE = {
    "model": "gpt-4o-mini",
    "messages": [
        {
            "role": "user",
            "content": 'Tips for <helicone-prompt-input key="city" /> in <helicone-prompt-input key="season" />.',
        }
    ],
}
KeyFactory = Callable[..., str]


@dataclass
class Made:
    """A table made through table/new, with what it was made from."""

    prompt_id: str
    version_id: str
    dataset_id: str
    table_id: str
    experiment_id: str


def _post(client: TestClient, key: str, path: str, body: Any = None) -> httpx.Response:
    return client.post(path, json=body, headers=auth(key))


def _new_body(dataset_id: str, version_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "datasetId": dataset_id,
        "experimentMetadata": {"experiment_name": "Trips"},
        "promptVersionId": version_id,
        "newHeliconeTemplate": json.dumps(NEW_TEMPLATE),
        "isMajorVersion": False,
        "promptSubversionMetadata": {"label": "trial"},
    }
    return {**body, **overrides}


def _make(client: TestClient, key: str, name: str = "trip-tips", **overrides: Any) -> Made:
    prompt_id, version_id = new_prompt(client, key, name)
    dataset_id, _ = new_dataset(client, key, version_id, [])
    made = data(_post(client, key, f"{TABLE}/new", _new_body(dataset_id, version_id, **overrides)))
    assert set(made) == {"tableId", "experimentId"}
    return Made(prompt_id, version_id, dataset_id, made["tableId"], made["experimentId"])


def _table(client: TestClient, key: str, table_id: str) -> dict[str, Any]:
    found: dict[str, Any] = data(_post(client, key, f"{TABLE}/{table_id}/query"))
    return found


def _records(client: TestClient, key: str, dataset_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = data(_post(client, key, f"{V1}/dataset/{dataset_id}/inputs/query"))
    return found


def _cells(table: dict[str, Any], row_index: int) -> dict[str, dict[str, Any]]:
    """The cells of one row, by column name."""
    return {
        column["columnName"]: cell
        for column in table["columns"]
        for cell in column["cells"]
        if cell["rowIndex"] == row_index
    }


def _no_content(response: httpx.Response) -> None:
    assert response.status_code == 204, response.text
    assert response.content == b""


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]
    assert message
    return message


# --- creating and reading ---------------------------------------------------------------------------------


def test_table_new_makes_the_experiment_its_table_a_derived_version_and_row_zero(
    client: TestClient, key: str
) -> None:
    made = _make(client, key)
    uuid.UUID(made.table_id), uuid.UUID(made.experiment_id)
    [record] = _records(client, key, made.dataset_id)
    assert (record["inputs"], record["prompt_version"], record["source_request"]) == (
        {},
        made.version_id,
        None,
    )
    table = _table(client, key, made.table_id)
    inputs, original = table["columns"]
    row = {"datasetRowId": record["dataset_row_id"], "inputId": record["id"]}
    assert table == {
        "id": made.table_id,
        "name": "Trips",
        "experimentId": made.experiment_id,
        "metadata": None,
        "columns": [
            {
                "id": inputs["id"],
                "columnName": "inputs",
                "columnType": "input",
                "metadata": {},
                "cells": [
                    {
                        "id": inputs["cells"][0]["id"],
                        "rowIndex": 0,
                        "value": "inputs",
                        "status": "initialized",
                        "metadata": {
                            **row,
                            "cellType": "input",
                            "inputs": [{"key": "city", "value": ""}, {"key": "season", "value": ""}],
                        },
                    }
                ],
            },
            {
                "id": original["id"],
                "columnName": "original",
                "columnType": "output",
                "metadata": {"promptVersionId": made.version_id},
                "cells": [
                    {
                        "id": original["cells"][0]["id"],
                        "rowIndex": 0,
                        "value": None,
                        "status": "initialized",
                        "metadata": {**row, "cellType": "output"},
                    }
                ],
            },
        ],
    }
    versions = data(_post(client, key, f"/v1/prompt/{made.prompt_id}/versions/query", {}))
    [derived] = [v for v in versions if v["parent_prompt_version"] == made.version_id]
    assert (derived["major_version"], derived["minor_version"]) == (1, 1)
    assert derived["helicone_template"] == NEW_TEMPLATE
    assert derived["metadata"]["label"] == "trial"

    simplified = data(_post(client, key, f"{TABLE}/{made.table_id}/metadata/query"))
    assert ISO_MS.match(simplified["createdAt"])
    assert simplified == {
        "id": made.table_id,
        "name": "Trips",
        "experimentId": made.experiment_id,
        "createdAt": simplified["createdAt"],
        "metadata": None,
        "columns": [
            {"id": inputs["id"], "columnName": "inputs", "columnType": "input", "metadata": {}},
            {
                "id": original["id"],
                "columnName": "original",
                "columnType": "output",
                "metadata": {"promptVersionId": made.version_id},
            },
        ],
    }
    assert data(_post(client, key, f"{V1}/tables/query")) == [simplified]


def test_tables_are_listed_newest_first_with_their_columns(client: TestClient, key: str) -> None:
    first = _make(client, key, "first")
    body = _new_body(
        first.dataset_id,
        first.version_id,
        experimentMetadata={"experiment_name": ""},
        isMajorVersion=True,
        experimentTableMetadata={"datasetId": first.dataset_id, "view": "grid"},
    )
    second = data(_post(client, key, f"{TABLE}/new", body))
    listed = data(_post(client, key, f"{V1}/tables/query"))
    assert [(t["id"], t["name"]) for t in listed] == [
        (second["tableId"], "Experiment"),
        (first.table_id, "Trips"),
    ]
    assert listed[0]["metadata"] == {"datasetId": first.dataset_id, "view": "grid"}
    assert [[c["columnName"] for c in t["columns"]] for t in listed] == [["inputs", "original"]] * 2
    versions = data(_post(client, key, f"/v1/prompt/{first.prompt_id}/versions/query", {}))
    numbers = sorted((v["major_version"], v["minor_version"]) for v in versions)
    assert numbers == [(1, 0), (1, 1), (2, 0)]
    # Both tables' rows 0 are linked into the dataset.
    assert len(_records(client, key, first.dataset_id)) == 2


# --- a table's life -----------------------------------------------------------------------------------


def test_a_table_grows_rows_columns_and_cells_and_keeps_its_input_records_in_step(
    client: TestClient, key: str
) -> None:
    prompt_id, version = new_prompt(client, key)
    main, _ = new_dataset(client, key, version, [])
    rows_dataset, _ = new_dataset(client, key, version, [])
    body = _new_body(main, version, experimentTableMetadata={"datasetId": rows_dataset})
    table_id = data(_post(client, key, f"{TABLE}/new", body))["tableId"]
    one = f"{TABLE}/{table_id}"
    request_id = log_chat(client, key)

    added = _post(
        client,
        key,
        f"{one}/row/new",
        {"promptVersionId": version, "inputs": {"city": "Lisbon"}, "sourceRequest": request_id},
    )
    assert (added.status_code, added.json()) == (200, {"data": None, "error": None})
    second = {"promptVersionId": version, "inputs": {"city": "Oslo", "season": "winter"}}
    assert data(_post(client, key, f"{one}/row/new", second)) is None
    column = {
        "columnName": "v2",
        "columnType": "experiment",
        "promptVersionId": version,
        "inputKeys": ["season", "budget"],
    }
    _no_content(_post(client, key, f"{one}/column", column))

    table = _table(client, key, table_id)
    assert [(c["columnName"], c["metadata"]) for c in table["columns"]] == [
        ("inputs", {}),
        ("original", {"promptVersionId": version}),
        ("v2", {"promptVersionId": version}),
    ]
    records = _records(client, key, rows_dataset)
    assert _records(client, key, main) == []  # the table's metadata.datasetId takes the rows
    assert [r["inputs"] for r in records] == [
        {"season": "", "budget": ""},
        {"city": "Lisbon", "season": "", "budget": ""},
        {"city": "Oslo", "season": "winter", "budget": ""},  # a value already set is kept
    ]
    assert [r["source_request"] for r in records] == [None, request_id, None]
    for index, record in enumerate(records):
        cells = _cells(table, index)
        row = {"datasetRowId": record["dataset_row_id"], "inputId": record["id"]}
        assert cells["v2"] == {
            "id": cells["v2"]["id"],
            "rowIndex": index,
            "value": None,
            "status": "initialized",
            "metadata": {**row, "cellType": "experiment"},
        }
        assert cells["original"]["metadata"] == {**row, "cellType": "output"}
    lisbon = _cells(table, 1)
    assert lisbon["inputs"]["metadata"]["inputs"] == [{"key": "city", "value": "Lisbon"}]
    assert lisbon["original"]["value"] == request_id  # the production answer

    # Editing the input cell and pushing its inputs into the record (other keys kept).
    oslo = _cells(table, 2)["inputs"]
    edited = {"inputs": [{"key": "city", "value": "Bergen"}, {"key": "season", "value": "spring"}]}
    patch = {"cellId": oslo["id"], "metadata": json.dumps(edited), "updateInputs": True}
    _no_content(client.patch(f"{one}/cell", json=patch, headers=auth(key)))
    assert _records(client, key, rows_dataset)[2]["inputs"] == {
        "city": "Bergen",
        "season": "spring",
        "budget": "",
    }
    after = _cells(_table(client, key, table_id), 2)["inputs"]
    assert after == {**oslo, "metadata": {**oslo["metadata"], **edited}}

    # Status and value; an empty one leaves the cell's as it is.
    v2 = _cells(table, 0)["v2"]
    _no_content(
        client.patch(
            f"{one}/cell", json={"cellId": v2["id"], "status": "success", "value": "Go"}, headers=auth(key)
        )
    )
    _no_content(
        client.patch(
            f"{one}/cell", json={"cellId": v2["id"], "status": "running", "value": ""}, headers=auth(key)
        )
    )
    assert _cells(_table(client, key, table_id), 0)["v2"] == {**v2, "status": "running", "value": "Go"}

    # A lone cell, then deleting a row (twice: the same answer).
    v2_id = table["columns"][2]["id"]
    _no_content(_post(client, key, f"{one}/cell", {"columnId": v2_id, "rowIndex": 5, "value": ""}))
    for _ in range(2):
        deleted = client.delete(f"{one}/row/1", headers=auth(key))
        assert (deleted.status_code, deleted.json()) == (200, {"data": None, "error": None})
    table = _table(client, key, table_id)
    assert _cells(table, 5) == {
        "v2": {
            "id": _cells(table, 5)["v2"]["id"],
            "rowIndex": 5,
            "value": None,
            "status": "initialized",
            "metadata": None,
        }
    }
    assert {name: cell["metadata"].get("deleted") for name, cell in _cells(table, 1).items()} == {
        "inputs": True,
        "original": True,
        "v2": True,
    }
    assert all("deleted" not in cell["metadata"] for cell in _cells(table, 0).values())
    _error(client.delete(f"{one}/row/3", headers=auth(key)), 404)

    # A batch of rows from existing records: after row 5, an existing link reused, a new one made.
    first, third = records[0], records[2]
    batch = {
        "rows": [
            {
                "inputRecordId": first["id"],
                "inputs": {"city": "Rome"},
                "datasetId": rows_dataset,
                "cells": [{"columnId": v2_id, "value": "given", "metadata": {"note": "mine"}}],
                "sourceRequest": request_id,
            },
            {
                "inputRecordId": third["id"],
                "inputs": {},
                "datasetId": main,
                "cells": [{"columnId": table["columns"][1]["id"], "value": "x"}],
            },
        ]
    }
    assert data(_post(client, key, f"{one}/row/insert/batch", batch)) is None
    table = _table(client, key, table_id)
    [main_link] = _records(client, key, main)
    rome, copied = _cells(table, 6), _cells(table, 7)
    rome_row = {"datasetRowId": first["dataset_row_id"], "inputId": first["id"]}
    assert {name: (cell["value"], cell["status"], cell["metadata"]) for name, cell in rome.items()} == {
        "inputs": (
            "inputs",
            "initialized",
            {**rome_row, "cellType": "input", "inputs": [{"key": "city", "value": "Rome"}]},
        ),
        "original": (request_id, "initialized", {**rome_row, "cellType": "output"}),
        "v2": ("given", "initialized", {"note": "mine"}),
    }
    copied_row = {"datasetRowId": main_link["dataset_row_id"], "inputId": third["id"]}
    assert {name: (cell["value"], cell["metadata"]) for name, cell in copied.items()} == {
        "inputs": ("inputs", {**copied_row, "cellType": "input", "inputs": []}),
        "original": ("x", {**copied_row, "cellType": "output"}),
        "v2": (None, {**copied_row, "cellType": "experiment"}),
    }
    assert len(_records(client, key, rows_dataset)) == 3  # the first row's record was linked already
    assert sorted({cell["rowIndex"] for column in table["columns"] for cell in column["cells"]}) == [
        0,
        1,
        2,
        5,
        6,
        7,
    ]
    assert prompt_id


def test_a_column_can_show_a_hypothesis_of_the_tables_experiment(client: TestClient, key: str) -> None:
    made = _make(client, key)
    other = _make(client, key, "other")
    hypothesis = {
        "experimentId": made.experiment_id,
        "model": "gpt-4o",
        "promptVersion": made.version_id,
        "providerKeyId": "NOKEY",
        "status": "PENDING",
    }
    hypothesis_id = data(_post(client, key, f"{V1}/hypothesis", hypothesis))["hypothesisId"]
    column = {"columnName": "gpt-4o", "columnType": "experiment", "hypothesisId": hypothesis_id}
    _error(_post(client, key, f"{TABLE}/{other.table_id}/column", column), 404)
    _no_content(_post(client, key, f"{TABLE}/{made.table_id}/column", column))
    shown = _table(client, key, made.table_id)["columns"][2]
    assert {k: v for k, v in shown.items() if k != "cells"} == {
        "id": shown["id"],
        "columnName": "gpt-4o",
        "columnType": "experiment",
        "hypothesisId": hypothesis_id,
        "metadata": {"hypothesisId": hypothesis_id},
    }
    assert [cell["rowIndex"] for cell in shown["cells"]] == [0]


# --- organizations ----------------------------------------------------------------------------------------


def test_another_organization_reaches_nothing_of_a_table(client: TestClient, make_key: KeyFactory) -> None:
    mine, theirs = make_key("acme"), make_key("globex")
    made = _make(client, mine)
    table = _table(client, mine, made.table_id)
    column_id, cell_id = table["columns"][1]["id"], table["columns"][0]["cells"][0]["id"]
    [record] = _records(client, mine, made.dataset_id)
    request_id = log_chat(client, mine)
    one = f"{TABLE}/{made.table_id}"
    batch = {
        "rows": [{"inputRecordId": record["id"], "inputs": {}, "datasetId": made.dataset_id, "cells": []}]
    }
    calls: list[tuple[str, str, Any]] = [
        ("POST", f"{one}/query", None),
        ("POST", f"{one}/metadata/query", None),
        ("POST", f"{one}/cell", {"columnId": column_id, "rowIndex": 3, "value": "x"}),
        ("PATCH", f"{one}/cell", {"cellId": cell_id, "value": "x"}),
        ("POST", f"{one}/column", {"columnName": "c", "columnType": "output"}),
        ("POST", f"{one}/row/new", {"promptVersionId": made.version_id}),
        ("DELETE", f"{one}/row/0", None),
        ("POST", f"{one}/row/insert/batch", batch),
        ("POST", f"{TABLE}/new", _new_body(made.dataset_id, made.version_id)),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body, headers=auth(theirs))
        assert response.status_code == 404, (method, path, response.text)
    assert data(_post(client, theirs, f"{V1}/tables/query")) == []

    # Their own table cannot reach into mine: my column, cell, dataset, version, record or request.
    own = _make(client, theirs)
    theirs_one = f"{TABLE}/{own.table_id}"
    reaching: list[tuple[str, str, Any]] = [
        ("POST", f"{theirs_one}/cell", {"columnId": column_id, "rowIndex": 3, "value": "x"}),
        ("PATCH", f"{theirs_one}/cell", {"cellId": cell_id, "value": "x"}),
        (
            "POST",
            f"{theirs_one}/column",
            {"columnName": "c", "columnType": "output", "promptVersionId": made.version_id},
        ),
        ("POST", f"{theirs_one}/row/new", {"promptVersionId": made.version_id}),
        ("POST", f"{theirs_one}/row/new", {"promptVersionId": own.version_id, "sourceRequest": request_id}),
        ("POST", f"{theirs_one}/row/insert/batch", batch),
        (
            "POST",
            f"{theirs_one}/row/insert/batch",
            {"rows": [{**batch["rows"][0], "datasetId": own.dataset_id}]},
        ),
        ("POST", f"{TABLE}/new", _new_body(own.dataset_id, made.version_id)),
        ("POST", f"{TABLE}/new", _new_body(made.dataset_id, own.version_id)),
        (
            "POST",
            f"{TABLE}/new",
            _new_body(own.dataset_id, own.version_id, experimentTableMetadata={"datasetId": made.dataset_id}),
        ),
    ]
    for method, path, body in reaching:
        response = client.request(method, path, json=body, headers=auth(theirs))
        assert response.status_code == 404, (method, path, response.text)
    # Mine is untouched, theirs too.
    assert _table(client, mine, made.table_id) == table
    assert [t["id"] for t in data(_post(client, theirs, f"{V1}/tables/query"))] == [own.table_id]
    assert len(_records(client, mine, made.dataset_id)) == 1


# --- bad bodies ------------------------------------------------------------------------------------------


def test_bad_bodies_are_refused_naming_what_is_wrong(client: TestClient, key: str) -> None:
    made = _make(client, key)
    other = _make(client, key, "other")
    one = f"{TABLE}/{made.table_id}"
    table = _table(client, key, made.table_id)
    inputs_cell, output_cell = (column["cells"][0] for column in table["columns"])
    column_id = table["columns"][1]["id"]
    other_column = _table(client, key, other.table_id)["columns"][1]["id"]
    post = lambda path, body: _post(client, key, path, body)  # noqa: E731
    patch = lambda body: client.patch(f"{one}/cell", json=body, headers=auth(key))  # noqa: E731

    _error(post(f"{TABLE}/new", {**_new_body(made.dataset_id, made.version_id), "extra": 1}), 422)
    assert "JSON" in _error(
        post(f"{TABLE}/new", _new_body(made.dataset_id, made.version_id, newHeliconeTemplate="{nope")), 400
    )
    _error(post(f"{TABLE}/new", _new_body(UNKNOWN, made.version_id)), 404)
    _error(post(f"{TABLE}/new", _new_body(made.dataset_id, "not-a-version")), 404)
    _error(
        post(
            f"{TABLE}/new",
            _new_body(made.dataset_id, made.version_id, experimentTableMetadata={"datasetId": 7}),
        ),
        400,
    )
    _error(
        post(
            f"{TABLE}/new",
            _new_body(made.dataset_id, made.version_id, experimentMetadata={"experiment_name": "a\x00b"}),
        ),
        400,
    )

    _error(post(f"{one}/cell", {"columnId": column_id, "rowIndex": 1, "value": None, "extra": True}), 422)
    _error(post(f"{one}/cell", {"columnId": column_id, "rowIndex": -1, "value": None}), 422)
    _error(post(f"{one}/cell", {"columnId": column_id, "rowIndex": 1.5, "value": None}), 422)
    _error(post(f"{one}/cell", {"columnId": column_id, "rowIndex": 1}), 422)
    assert "not a column of" in _error(
        post(f"{one}/cell", {"columnId": other_column, "rowIndex": 1, "value": "x"}), 404
    )
    taken = _error(post(f"{one}/cell", {"columnId": column_id, "rowIndex": 0, "value": "x"}), 409)
    assert output_cell["id"] in taken
    assert "PATCH" in taken

    assert "No fields to update" in _error(patch({"cellId": output_cell["id"]}), 400)
    assert "No fields to update" in _error(
        patch({"cellId": output_cell["id"], "status": "", "value": ""}), 400
    )
    assert "metadata" in _error(patch({"cellId": output_cell["id"], "metadata": "{not json"}), 400)
    assert "object" in _error(patch({"cellId": output_cell["id"], "metadata": "[1, 2]"}), 400)
    _error(patch({"cellId": output_cell["id"], "value": "x", "tag": 1}), 422)
    _error(patch({"cellId": UNKNOWN, "value": "x"}), 404)
    _error(
        patch({"cellId": _table(client, key, other.table_id)["columns"][0]["cells"][0]["id"], "value": "x"}),
        404,
    )
    assert "inputs" in _error(patch({"cellId": output_cell["id"], "updateInputs": True}), 400)
    bad_inputs = {
        "cellId": inputs_cell["id"],
        "metadata": json.dumps({"inputs": [{"key": 1}]}),
        "updateInputs": True,
    }
    assert "inputs[0]" in _error(patch(bad_inputs), 400)
    gone = {"cellId": inputs_cell["id"], "metadata": json.dumps({"inputId": UNKNOWN}), "updateInputs": True}
    _error(patch(gone), 404)

    assert "columnType" in _error(post(f"{one}/column", {"columnName": "c", "columnType": "score"}), 400)
    _error(post(f"{one}/column", {"columnName": "", "columnType": "output"}), 400)
    _error(post(f"{one}/column", {"columnName": "c", "columnType": "output", "hypothesisId": UNKNOWN}), 404)
    _error(
        post(f"{one}/column", {"columnName": "c", "columnType": "output", "promptVersionId": UNKNOWN}), 404
    )
    _error(post(f"{one}/column", {"columnName": "c", "columnType": "output", "inputKeys": [""]}), 400)

    _error(post(f"{one}/row/new", {"promptVersionId": UNKNOWN}), 404)
    _error(post(f"{one}/row/new", {"promptVersionId": made.version_id, "sourceRequest": UNKNOWN}), 404)
    _error(post(f"{one}/row/new", {"promptVersionId": made.version_id, "inputs": {"city": 3}}), 422)
    _error(post(f"{one}/row/new", {"promptVersionId": made.version_id, "inputs": {"": "x"}}), 400)

    for index in ("-1", "1.5", "x"):
        assert "path.rowIndex" in _error(client.delete(f"{one}/row/{index}", headers=auth(key)), 400)
    _error(client.delete(f"{one}/row/9", headers=auth(key)), 404)
    _error(client.delete(f"{TABLE}/not-a-uuid/row/0", headers=auth(key)), 400)
    _error(post(f"{TABLE}/{UNKNOWN}/query", None), 404)
    # None of it changed the table (the PATCHes above that failed wrote nothing either).
    assert _table(client, key, made.table_id) == table


def test_a_failing_batch_writes_nothing(client: TestClient, key: str) -> None:
    made = _make(client, key)
    other = _make(client, key, "other")
    one = f"{TABLE}/{made.table_id}"
    before = _table(client, key, made.table_id)
    [record] = _records(client, key, made.dataset_id)
    column_id = before["columns"][1]["id"]
    target, _ = new_dataset(client, key, made.version_id, [])
    good = {
        "inputRecordId": record["id"],
        "inputs": {"city": "Rome"},
        "datasetId": target,
        "cells": [],
    }
    other_column = _table(client, key, other.table_id)["columns"][1]["id"]
    cases = [
        ({**good, "inputRecordId": UNKNOWN}, 404, "rows[1].inputRecordId"),
        ({**good, "datasetId": UNKNOWN}, 404, "rows[1].datasetId"),
        ({**good, "sourceRequest": UNKNOWN}, 404, "rows[1].sourceRequest"),
        ({**good, "cells": [{"columnId": other_column, "value": "x"}]}, 404, "rows[1].cells[0].columnId"),
        (
            {**good, "cells": [{"columnId": column_id, "value": "x"}, {"columnId": column_id, "value": "y"}]},
            400,
            "twice",
        ),
        ({**good, "inputs": {"": "x"}}, 400, "rows[1].inputs"),
    ]
    for bad, status, named in cases:
        response = _post(client, key, f"{one}/row/insert/batch", {"rows": [good, bad]})
        assert named in _error(response, status), response.text
    _error(_post(client, key, f"{one}/row/insert/batch", {"rows": [{**good, "extra": 1}]}), 422)
    _error(_post(client, key, f"{one}/row/insert/batch", {"rows": [good] * 10_001}), 422)
    assert _table(client, key, made.table_id) == before
    assert _records(client, key, target) == []  # no link made either


# --- concurrency -----------------------------------------------------------------------------------------


def test_concurrent_rows_get_distinct_consecutive_indexes(client: TestClient, key: str) -> None:
    made = _make(client, key)
    one = f"{TABLE}/{made.table_id}"

    def add(city: str) -> int:
        body = {"promptVersionId": made.version_id, "inputs": {"city": city}}
        return _post(client, key, f"{one}/row/new", body).status_code

    cities = [f"city-{n}" for n in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(add, cities)) == [200] * 6
    table = _table(client, key, made.table_id)
    for column in table["columns"]:
        assert [cell["rowIndex"] for cell in column["cells"]] == list(range(7))
    placed = {
        cell["metadata"]["inputs"][0]["value"]
        for cell in table["columns"][0]["cells"]
        if cell["rowIndex"] > 0
    }
    assert placed == set(cities)
