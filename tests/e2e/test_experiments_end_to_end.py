"""End to end: experiments against `heliograph serve` in a subprocess, on both databases.

Tracked prompt calls go through the gateway with the real `openai` client; a dataset of them becomes an
experiment's rows, a hypothesis is added, its cells run in the server's background worker pool and are
scored by an LLM-as-judge evaluator. A run also survives a graceful restart of the server: the cells not
yet run when it stopped are run by the next server on the same database, each once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa

from evaluators.support import judge_template
from heliograph.dev.fake_provider import REPLY, FakeProvider, running_fake_provider
from heliograph.services.experiments.kinds import CELL_KIND
from heliograph.storage.evaluation_tables import jobs
from support.http import auth
from support.server import RunningServer, serve, stop_gracefully

pytestmark = pytest.mark.e2e

BASE = "/v2/experiment"
#: The key the server uses for its own calls (cells, judges); the fake provider accepts any.
SERVER_PROVIDER_KEY = "sk-fake-server-openai"
TERSE = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a terse travel guide."},
        {"role": "user", "content": 'One tip for <helicone-prompt-input key="city" />.'},
    ],
}
#: Each call of this hypothesis takes 0.4 s at the fake provider, so a run of it is long enough to stop
#: the server in its middle.
SLOW_MARK = "fake-delay-ms: 400"
SLOW = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "user", "content": f'A slow tip for <helicone-prompt-input key="city" />. {SLOW_MARK}'}
    ],
}


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as fake:
        yield fake


def _env(provider: FakeProvider, **extra: str) -> dict[str, str]:
    return {
        "HELIOGRAPH_PROVIDER_URL_OPENAI": provider.url,
        "HELIOGRAPH_PROVIDER_KEY_OPENAI": SERVER_PROVIDER_KEY,
        **extra,
    }


class Api:
    """Plain httpx calls of one server's API, their envelopes unwrapped."""

    def __init__(self, server: RunningServer) -> None:
        self.http = httpx.Client(base_url=server.url, headers=auth(server.key), timeout=30)

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code == status, (method, path, response.text)
        answer = response.json()
        assert answer["error"] is None, answer
        return answer["data"]

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        return self.call("POST", path, body, status)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def hpf(key: str, value: str) -> str:
    return f'<helicone-prompt-input key="{key}">{value}</helicone-prompt-input>'


def track(server: RunningServer, api: Api, cities: list[str]) -> list[str]:
    """Tracked calls of prompt ``travel-tips`` through the gateway, one per city; their request ids once
    each one's prompt inputs are recorded."""
    llm = openai.OpenAI(
        base_url=f"{server.url}/v1/gateway/oai/v1",
        api_key="sk-caller-provider-key",
        default_headers={"Helicone-Auth": f"Bearer {server.key}", "Helicone-Prompt-Id": "travel-tips"},
        max_retries=0,
    )
    request_ids = []
    with llm:
        for city in cities:
            raw = llm.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=[
                    {"role": "system", "content": "You are a travel guide."},
                    {"role": "user", "content": f"Three tips for {hpf('city', city)}, please."},
                ],
            )
            assert raw.parse().choices[0].message.content == REPLY
            request_ids.append(raw.headers["helicone-id"])
    for request_id in request_ids:
        wait_for(partial(api.get, f"/v1/request/{request_id}/inputs"), f"the inputs of {request_id}")
    return request_ids


def experiment_of(api: Api, request_ids: list[str], name: str) -> tuple[str, dict[str, Any]]:
    """A dataset of the logged requests, an experiment from their prompt version with the dataset's rows:
    its id and its GET answer."""
    original = api.get(f"/v1/request/{request_ids[0]}/inputs")["version_id"]
    dataset = api.post("/v1/helicone-dataset", {"datasetName": name, "requestIds": request_ids})["datasetId"]
    experiment_id: str = api.post(f"{BASE}/new", {"name": name, "originalPromptVersion": original})[
        "experimentId"
    ]
    assert api.post(f"{BASE}/{experiment_id}/row/insert/dataset/{dataset}") is None
    experiment: dict[str, Any] = api.get(f"{BASE}/{experiment_id}")
    assert experiment["original_prompt_version"] == original
    return experiment_id, experiment


def add_hypothesis(api: Api, experiment_id: str, parent: str, template: Any, label: str) -> str:
    body = {"parentPromptVersionId": parent, "newHeliconeTemplate": template, "metadata": {"label": label}}
    hypothesis: dict[str, Any] = api.post(f"{BASE}/{experiment_id}/prompt-version", body)
    assert (hypothesis["experiment_id"], hypothesis["parent_prompt_version"]) == (experiment_id, parent)
    return str(hypothesis["id"])


def finished_run(api: Api, experiment_id: str, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run: dict[str, Any] = api.get(f"{BASE}/{experiment_id}/run/{run_id}")
        return run if run["status"] != "running" else None

    found: dict[str, Any] = wait_for(finished, f"run {run_id} to finish", timeout)
    return found


def new_outputs(experiment: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each row's outputs outside the Original column, by the row's city."""
    return {
        row["inputs"]["city"]: [o for o in row["requests"] if not o["is_original"]]
        for row in experiment["rows"]
    }


def test_from_tracked_calls_to_scored_hypotheses(
    database_url: str, tmp_path: Path, provider: FakeProvider
) -> None:
    cities = ["Lisbon", "Porto", "Faro"]
    with serve(database_url, tmp_path / "data", extra_env=_env(provider)) as server, Api(server) as api:
        request_ids = track(server, api, cities)
        experiment_id, experiment = experiment_of(api, request_ids, "trips")
        assert experiment["input_keys"] == ["city"]
        assert [row["inputs"] for row in experiment["rows"]] == [{"city": city} for city in cities]
        copied = experiment["copied_original_prompt_version"]
        # Each row's logged request is its output in the Original column.
        assert [
            [(o["request_id"], o["is_original"]) for o in row["requests"]] for row in experiment["rows"]
        ] == [[(request_id, True)] for request_id in request_ids]
        hypothesis = add_hypothesis(api, experiment_id, copied, TERSE, "terse")
        evaluator = api.post(
            "/v1/evaluator",
            {"name": "Helpful", "scoring_type": "LLM-BOOLEAN", "llm_template": judge_template("helpful")},
            status=201,
        )["id"]
        assert api.post(f"{BASE}/{experiment_id}/evaluators", {"evaluatorId": evaluator}) is None

        sent_before = len(provider.requests)
        run = api.post(f"{BASE}/{experiment_id}/run")
        assert run["cells"]["total"] == 3  # the hypothesis column; the Original column has its outputs
        finished = finished_run(api, experiment_id, run["runId"])
        assert finished["status"] == "done", finished
        assert finished["cells"] == {"total": 3, "done": 3, "pending": 0, "failed": 0}
        assert finished["evaluations"] == {"pending": 0, "failed": 0}
        _check_cells(api, provider, experiment_id, hypothesis, sent_before, cities)
        _check_scores(api, provider, experiment_id, hypothesis, copied)


def _check_cells(
    api: Api, provider: FakeProvider, experiment_id: str, hypothesis: str, sent_before: int, cities: list[str]
) -> None:
    """The run's cells reached the provider with the row's inputs and the server's key, and each row has
    its one output, logged with the experiment's id."""
    cell_calls = [
        r
        for r in provider.requests[sent_before:]
        if "tools" not in r.body  # judges call with a tool
    ]
    assert sorted(r.body["messages"][1]["content"] for r in cell_calls) == [
        f"One tip for {c}." for c in sorted(cities)
    ]
    assert {r.headers["authorization"] for r in cell_calls} == {f"Bearer {SERVER_PROVIDER_KEY}"}
    outputs = new_outputs(api.get(f"{BASE}/{experiment_id}"))
    assert {city: [o["prompt_version_id"] for o in found] for city, found in outputs.items()} == {
        city: [hypothesis] for city in cities
    }
    logged = api.get(f"/v1/request/{outputs['Porto'][0]['request_id']}?includeBody=true")
    assert logged["properties"]["Helicone-Experiment-Id"] == experiment_id
    assert logged["response_body"]["choices"][0]["message"]["content"] == REPLY
    # Nothing is missing now: a second run has no cells.
    assert api.post(f"{BASE}/{experiment_id}/run")["cells"]["total"] == 0


def _check_scores(api: Api, provider: FakeProvider, experiment_id: str, hypothesis: str, copied: str) -> None:
    """The run scored its outputs as they arrived; the Original column is scored by evaluators/run."""
    one = f"{BASE}/{experiment_id}"
    helpful = {"helpful-hcone-bool": {"value": 1.0, "valueType": "number", "max": 1.0, "min": 1.0}}
    assert api.get(f"{one}/{hypothesis}/scores") == helpful
    assert api.get(f"{one}/should-run-evaluators") is True  # the originals have no score yet
    judged_before = len(provider.requests)
    assert api.post(f"{one}/evaluators/run") is None
    judges = provider.requests[judged_before:]
    assert len(judges) == 3
    assert all("tools" in r.body for r in judges)
    assert api.get(f"{one}/should-run-evaluators") is False
    assert api.get(f"{one}/{copied}/scores") == helpful
    assert api.get(f"{one}/{hypothesis}/scores") == helpful


def _cell_jobs(database_url: str, run_id: str) -> dict[str, int]:
    """The run's cell jobs left in the queue, by status, read from the database while no server runs."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs.c.status, sa.func.count())
                .where(jobs.c.kind == CELL_KIND, jobs.c.ref == run_id)
                .group_by(jobs.c.status)
            ).all()
    finally:
        engine.dispose()
    return {str(status): int(count) for status, count in rows}


def test_a_run_cut_by_a_restart_finishes_on_the_next_server(
    database_url: str, tmp_path: Path, provider: FakeProvider
) -> None:
    cities = [f"Town {n:02d}" for n in range(12)]
    data_dir = tmp_path / "data"
    env = _env(provider, HELIOGRAPH_EXPERIMENT_CONCURRENCY="1")
    with serve(database_url, data_dir, extra_env=env) as first, Api(first) as api:
        experiment_id, experiment = experiment_of(api, track(first, api, cities), "towns")
        slow = add_hypothesis(api, experiment_id, experiment["copied_original_prompt_version"], SLOW, "slow")
        run = api.post(f"{BASE}/{experiment_id}/run")
        run_id = run["runId"]
        assert run["cells"]["total"] == len(cities)

        def some_done() -> dict[str, Any] | None:
            cells: dict[str, Any] = api.get(f"{BASE}/{experiment_id}/run/{run_id}")["cells"]
            return cells if cells["done"] >= 1 else None

        cells = wait_for(some_done, "the first cell")
        assert cells["done"] < len(cities), cells
        api.http.close()  # no open connection for the shutdown to wait on
        # uvicorn winds down (the lifespan closes the worker pools), then re-raises the SIGTERM it caught.
        assert stop_gracefully(first) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in first.log_path.read_text()
    # The shutdown waited for the cell it was running (the pool's close) and queued no other: nothing is
    # left 'running' for a lease to expire, and the rest of the run is still queued.
    left = _cell_jobs(database_url, run_id)
    assert set(left) == {"queued"}, left
    assert 0 < left["queued"] < len(cities), left

    with serve(database_url, data_dir, extra_env=env) as second, Api(second) as api:
        finished = finished_run(api, experiment_id, run_id)
        assert finished["status"] == "done", finished
        assert finished["cells"] == {"total": len(cities), "done": len(cities), "pending": 0, "failed": 0}
        outputs = new_outputs(api.get(f"{BASE}/{experiment_id}"))
    # Every row has exactly one output of the hypothesis: a cell run by both servers is not stored twice.
    assert {city: [o["prompt_version_id"] for o in found] for city, found in outputs.items()} == {
        city: [slow] for city in cities
    }
    assert len({found[0]["request_id"] for found in outputs.values()}) == len(cities)
    # The provider saw each row's call at least once, not necessarily exactly once: delivery is at least
    # once. A cell cut short after its call reached the provider but before its output was stored (a
    # shutdown that outlasts the pool's 10 s wait for running cells, a killed worker) is run again by the
    # next server, which finds no output and calls again; only a cell with a stored output is skipped.
    # The graceful stop here lets the running cell finish, so the count is normally one per row, but
    # what is guaranteed is rows <= calls <= rows + cells running at shutdown, and one output per cell.
    slow_calls = [r for r in provider.requests if SLOW_MARK in str(r.body)]
    assert len(slow_calls) >= len(cities)
    assert {r.body["messages"][0]["content"].split(". ")[0] for r in slow_calls} == {
        f"A slow tip for {city}" for city in cities
    }
