"""Calls the table-experiment tests share: a prompt made through the Prompt API, an experiment dataset
with rows, a table experiment over it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from experiments.support import data
from support.http import auth

V1 = "/v1/experiment"
TEMPLATE = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are a travel guide."},
        {"role": "user", "content": 'One tip for <helicone-prompt-input key="city" />.'},
    ],
}


def new_prompt(client: TestClient, key: str, name: str = "trip-tips") -> tuple[str, str]:
    """A prompt through the Prompt API: its id and version 1.0's id."""
    made = data(
        client.post(
            "/v1/prompt/create",
            json={"userDefinedId": name, "prompt": TEMPLATE, "metadata": {}},
            headers=auth(key),
        ),
        201,
    )
    return str(made["id"]), str(made["prompt_version_id"])


def new_dataset(client: TestClient, key: str, version_id: str, cities: list[str]) -> tuple[str, list[str]]:
    """An experiment dataset with one row (input record) per city: its id and the records' ids."""
    dataset_id = data(
        client.post(
            f"{V1}/dataset",
            json={"datasetName": "cities", "requestIds": [], "datasetType": "experiment"},
            headers=auth(key),
        )
    )["datasetId"]
    records = [
        data(
            client.post(
                f"{V1}/dataset/{dataset_id}/version/{version_id}/row/new",
                json={"inputs": {"city": city}},
                headers=auth(key),
            )
        )
        for city in cities
    ]
    return str(dataset_id), records


def query(client: TestClient, key: str, experiment_id: str, **include: bool) -> dict[str, Any]:
    found = data(
        client.post(
            f"{V1}/query",
            json={"filter": {"experiment": {"id": {"equals": experiment_id}}}, "include": include},
            headers=auth(key),
        )
    )
    assert len(found) == 1, found
    experiment: dict[str, Any] = found[0]
    return experiment
