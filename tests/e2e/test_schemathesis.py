"""Every operation of ``/openapi.json``, fuzzed by schemathesis against a real ``heliograph serve``.

The operations come from the served document, so a route added later is covered without a line here.
Each answer must be no 5xx and must match what the document declares for it: a declared status, its
content type, its headers and its body schema. Both valid inputs and inputs that break the schema are
generated. Generation is derandomized (no example database either), so a run is repeatable; the number
of examples per operation is bounded to keep the test near a minute per database on a 2-core machine.

The cases run through schemathesis's strategies under Hypothesis's ``@given`` (its documented use in
plain tests): its lazy pytest loader cannot run under pytest 9.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.schemas import APIOperation, BaseSchema

from support.http import auth
from support.server import RunningServer, serve

pytestmark = pytest.mark.e2e

ASYNC_LOG = {
    "providerRequest": {
        "url": "https://api.openai.com/v1/chat/completions",
        "json": {"model": "gpt-4o"},
        "meta": {},
    },
    "providerResponse": {"json": {"choices": []}, "status": 200, "headers": {}},
}
PROMPT = {
    "userDefinedId": "fuzzed",
    "prompt": {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": '<helicone-prompt-input key="x" />'}],
    },
    "metadata": {},
}
# A rule for the routes that take an alert id (the server checks no rules: see ``server``).
ALERT = {
    "name": "fuzzed",
    "metric": "request_count",
    "threshold": 1_000_000_000,
    "window_seconds": 60,
    "destination_url": "https://hooks.example.com/alerts",
}

EXAMPLES_PER_MODE = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SETTINGS = settings(
    max_examples=EXAMPLES_PER_MODE,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # A failure is reported with the first failing case: shrinking it against a server would cost minutes.
    phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    # No alert checks: a fuzzed rule must never notify a fuzzed destination.
    with serve(database_url, tmp_path / "data", extra_env={"HELIOGRAPH_ALERT_WORKERS": "0"}) as running:
        yield running


@pytest.fixture
def api_schema(server: RunningServer) -> BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": 20251205,
            # The key is sent on every call; generated Authorization values would only test the 401s.
            "generation": {"with-security-parameters": False},
        }
    )
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)


def _known_ids(server: RunningServer) -> dict[str, str]:
    """Ids of a stored request, prompt and experiment, so the fuzzing also reaches the success answers of the routes
    that take an id (random UUIDs name nothing: 404)."""
    headers = auth(server.key)
    logged = httpx.post(f"{server.url}/custom/v1/log", json=ASYNC_LOG, headers=headers)
    assert logged.status_code == 200, logged.text
    created = httpx.post(f"{server.url}/v1/prompt/create", json=PROMPT, headers=headers)
    assert created.status_code == 201, created.text
    experiment = httpx.post(f"{server.url}/v2/experiment/create/empty", headers=headers)
    assert experiment.status_code == 200, experiment.text
    table, hypothesis = _table_experiment(server, created.json()["data"]["prompt_version_id"])
    alert = httpx.post(f"{server.url}/v1/alerts", json=ALERT, headers=headers)
    assert alert.status_code == 201, alert.text
    return {
        "experimentTableId": table,
        "hypothesisId": hypothesis,
        "experimentId": experiment.json()["data"]["experimentId"],
        "requestId": logged.headers["Helicone-Id"],
        "promptId": created.json()["data"]["id"],
        "promptVersionId": created.json()["data"]["prompt_version_id"],
        "user_defined_id": PROMPT["userDefinedId"],
        "alertId": alert.json()["data"]["id"],
    }


def _table_experiment(server: RunningServer, version_id: str) -> tuple[str, str]:
    """A table experiment over an empty dataset: its table's id and a hypothesis's."""
    headers = auth(server.key)

    def post(path: str, body: dict[str, Any]) -> Any:
        answer = httpx.post(f"{server.url}{path}", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    dataset = post(
        "/v1/experiment/dataset", {"datasetName": "d", "requestIds": [], "datasetType": "experiment"}
    )
    experiment = post("/v1/experiment/new-empty", {"metadata": {}, "datasetId": dataset["datasetId"]})
    hypothesis = post(
        "/v1/experiment/hypothesis",
        {
            "experimentId": experiment["experimentId"],
            "model": "gpt-4o",
            "promptVersion": version_id,
            "providerKeyId": "NOKEY",
            "status": "PENDING",
        },
    )
    [found] = post(
        "/v1/experiment/query", {"filter": {"experiment": {"id": {"equals": experiment["experimentId"]}}}}
    )
    return str(found["tableId"]), str(hypothesis["hypothesisId"])


def _fuzz(
    operation: APIOperation, mode: GenerationMode, server: RunningServer, ids: dict[str, str] | None = None
) -> None:
    @SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=ids))
    def run(case: Case) -> None:
        case.call_and_validate(headers=auth(server.key), checks=CHECKS, timeout=30)

    try:
        run()
    except Unsatisfiable:
        # No input of this operation can break its schema (no parameters, no body).
        if mode is not GenerationMode.NEGATIVE:
            raise


def test_every_operation_answers_as_documented(
    api_schema: BaseSchema, server: RunningServer, subtests: pytest.Subtests
) -> None:
    known = _known_ids(server)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 40
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with subtests.test(msg=f"{operation.label} ({mode.value})"):
                _fuzz(operation, mode, server)
        names = [parameter.name for parameter in operation.path_parameters]
        if names and all(name in known for name in names):
            with subtests.test(msg=f"{operation.label} (positive, stored ids)"):
                _fuzz(operation, GenerationMode.POSITIVE, server, {name: known[name] for name in names})
