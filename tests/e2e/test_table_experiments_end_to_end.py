"""End to end: a table experiment (`/v1/experiment`) against `heliograph serve` in a subprocess, on both
databases, with the local fake provider.

Tracked prompt calls go through the gateway with the real `openai` client; an experiment dataset of their
input records becomes a table's rows (each with its production answer in the "original" column); a
hypothesis with a new prompt version gets a column, runs in the server's background worker pool, and its
column's cells end up holding the ids of requests logged in the organization.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from e2e.test_experiments_end_to_end import TERSE, Api, track, wait_for
from heliograph.dev.fake_provider import REPLY, FakeProvider, running_fake_provider
from support.server import serve

pytestmark = pytest.mark.e2e

V1 = "/v1/experiment"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as fake:
        yield fake


def _column(table: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(column for column in table["columns"] if column["columnName"] == name)
    return found


def _hypothesis_done(api: Api, hypothesis_id: str) -> dict[str, Any] | None:
    progress: dict[str, Any] = api.get(f"{V1}/hypothesis/{hypothesis_id}/run")
    return progress if progress["status"] != "RUNNING" else None


def test_a_table_experiment_runs_its_hypothesis_through_the_gateway(
    database_url: str, tmp_path: Path, provider: FakeProvider
) -> None:
    env = {"HELIOGRAPH_PROVIDER_URL_OPENAI": provider.url, "HELIOGRAPH_PROVIDER_KEY_OPENAI": "sk-fake-server"}
    with serve(database_url, tmp_path / "data", extra_env=env) as server, Api(server) as api:
        request_ids = track(server, api, ["Lisbon", "Porto"])
        original = api.get(f"/v1/request/{request_ids[0]}/inputs")["version_id"]
        dataset = api.post(
            f"{V1}/dataset", {"datasetName": "trips", "requestIds": request_ids, "datasetType": "experiment"}
        )["datasetId"]
        records = api.post(f"{V1}/dataset/{dataset}/inputs/query")
        assert sorted(record["source_request"] for record in records) == sorted(request_ids)

        created = api.post(
            f"{V1}/table/new",
            {
                "datasetId": dataset,
                "experimentMetadata": {"experiment_name": "terse tips"},
                "promptVersionId": original,
                "newHeliconeTemplate": json.dumps(TERSE),
                "isMajorVersion": False,
                "promptSubversionMetadata": {"label": "terse"},
                "experimentTableMetadata": {"datasetId": dataset},
            },
        )
        table_id, experiment_id = created["tableId"], created["experimentId"]
        table = api.post(f"{V1}/table/{table_id}/query")
        assert table["name"] == "terse tips"
        assert [(c["columnName"], c["columnType"]) for c in table["columns"]] == [
            ("inputs", "input"),
            ("original", "output"),
        ]
        original_column = _column(table, "original")["id"]

        # The production requests as rows: their answers sit in the "original" column.
        rows = [
            {
                "inputRecordId": record["id"],
                "inputs": record["inputs"],
                "datasetId": dataset,
                "cells": [{"columnId": original_column, "value": record["source_request"]}],
                "sourceRequest": record["source_request"],
            }
            for record in records
        ]
        assert api.post(f"{V1}/table/{table_id}/row/insert/batch", {"rows": rows}) is None

        prompt_id = api.get(f"/v1/prompt/version/{original}")["prompt_v2"]
        versions = api.post(f"/v1/prompt/{prompt_id}/versions/query", {})
        terse = next(v for v in versions if v["metadata"].get("label") == "terse")
        hypothesis = api.post(
            f"{V1}/hypothesis",
            {
                "experimentId": experiment_id,
                "model": "gpt-4o-mini",
                "promptVersion": terse["id"],
                "providerKeyId": "NOKEY",
                "status": "PENDING",
            },
        )["hypothesisId"]
        column = {"columnName": "terse", "columnType": "experiment", "hypothesisId": hypothesis}
        response = api.http.post(f"{V1}/table/{table_id}/column", json=column)
        assert response.status_code == 204, response.text

        api.post(f"{V1}/hypothesis/{hypothesis}/run")
        finished = wait_for(partial(_hypothesis_done, api, hypothesis), "the hypothesis's run")
        # The dataset's rows: the two production records and table/new's empty first row.
        assert finished["status"] == "COMPLETED"
        assert finished["rows"] == {"done": 3, "pending": 0, "failed": 0}

        table = api.post(f"{V1}/table/{table_id}/query")
        cells = _column(table, "terse")["cells"]
        assert len(cells) == 3
        for cell in cells:
            assert cell["status"] == "success"
            assert cell["value"] == cell["requestId"]
            logged = api.get(f"/v1/request/{cell['requestId']}?includeBody=true")
            assert logged["request_properties"]["Helicone-Experiment-Id"] == experiment_id
            assert logged["request_body"]["model"] == "gpt-4o-mini"
            assert logged["response_body"]["choices"][0]["message"]["content"] == REPLY
        originals = {cell["value"] for cell in _column(table, "original")["cells"]}
        assert set(request_ids) <= originals

        scores = api.post(f"{V1}/hypothesis/{hypothesis}/scores/query")
        assert scores["runsCount"] == 3
        assert scores["scores"]["model"] == {"value": "gpt-4o-mini", "valueType": "string"}
