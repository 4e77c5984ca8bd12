"""Online evaluation over HTTP on both databases: requests logged by the async-log route, OTLP and the
gateway are evaluated in the background by the organization's online evaluators, their scores land on
the requests (visible to the Request API's score filters and the Evals endpoints), failures are kept and
shown, and queued work survives a restart."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.dev.fake_provider import FakeProvider
from heliograph.services.evaluators.online import ONLINE_KIND
from heliograph.settings import Settings
from heliograph.storage.evaluation_tables import jobs
from support.http import auth
from support.otlp import export, openllmetry_chat, span

from .support import call, judge_template, log_chat, request_scores, wait_for


def _evaluator(client: TestClient, key: str, name: str, **definition: Any) -> str:
    created = call(client, key, "POST", "/v1/evaluator", {"name": name, **definition}, status=201)
    return str(created["id"])


def _online(client: TestClient, key: str, evaluator_id: str, **config: Any) -> None:
    call(client, key, "POST", f"/v1/evaluator/{evaluator_id}/onlineEvaluators", {"config": config})


def _says_paris(client: TestClient, key: str, **config: Any) -> str:
    evaluator_id = _evaluator(
        client,
        key,
        "Says Paris",
        scoring_type="CHECK",
        check_config={"_type": "contains", "value": "Paris"},
    )
    _online(client, key, evaluator_id, **config)
    return evaluator_id


def _jobs_left(engine: sa.Engine) -> int:
    """Online evaluation jobs still in the queue (the periodic sweeps and checks have their own)."""
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == ONLINE_KIND)
        return int(conn.execute(query).scalar_one())


def test_async_logs_are_scored_and_the_scores_are_queryable(client: TestClient, key: str) -> None:
    _says_paris(client, key)
    right = log_chat(client, key, "Paris")
    wrong = log_chat(client, key, "Lyon")
    assert wait_for(lambda: request_scores(client, key, right)) == {"says_paris-hcone-bool": 1}
    assert wait_for(lambda: request_scores(client, key, wrong)) == {"says_paris-hcone-bool": 0}
    # The Request API's score filter, and the Evals endpoints, see them like any score.
    scored = {"filter": {"request_response_rmt": {"scores": {"says_paris": {"equals": True}}}}}
    found = call(client, key, "POST", "/v1/request/query-clickhouse", scored, status=201)
    assert [r["request_id"] for r in found] == [right]
    assert "says_paris-hcone-bool" in call(client, key, "GET", "/v1/evals/scores")


def test_property_filters_sampling_and_our_own_calls(client: TestClient, key: str, engine: sa.Engine) -> None:
    _says_paris(client, key, propertyFilters=[{"key": "env", "value": "prod"}])
    never = _evaluator(client, key, "Never", scoring_type="CHECK", check_config={"_type": "json_valid"})
    _online(client, key, never, sampleRate=0)
    matching = log_chat(client, key, "Paris", **{"Helicone-Property-env": "prod"})
    other_env = log_chat(client, key, "Paris", **{"Helicone-Property-env": "dev"})
    judged = log_chat(
        client, key, "Paris", **{"Helicone-Property-env": "prod", "Helicone-Property-Helicone-Evaluator": "x"}
    )
    assert wait_for(lambda: request_scores(client, key, matching)) == {"says_paris-hcone-bool": 1}
    wait_for(lambda: _jobs_left(engine) == 0)
    assert request_scores(client, key, other_env) == {}
    assert request_scores(client, key, judged) == {}


def test_otlp_spans_are_evaluated(client: TestClient, key: str) -> None:
    _says_paris(client, key)
    body = export(
        span(
            openllmetry_chat(prompt="Capital of France?", completion="It is Paris."), start_ns=time.time_ns()
        )
    )
    response = client.post("/v1/trace/log", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    query = {"filter": {"request_response_rmt": {"scores": {"says_paris": {"equals": True}}}}}
    assert (
        len(wait_for(lambda: call(client, key, "POST", "/v1/request/query-clickhouse", query, status=201)))
        == 1
    )


def test_gateway_calls_are_judged_through_the_gateway(
    client: TestClient, key: str, fake: FakeProvider
) -> None:
    """A judge evaluates gateway traffic; its own call is logged (with Helicone-Evaluator) and is never
    evaluated in turn."""
    evaluator_id = _evaluator(
        client,
        key,
        "Quality",
        scoring_type="LLM-RANGE",
        llm_template=judge_template("Quality", "range", say="fake-score: 8"),
    )
    _online(client, key, evaluator_id)
    llm = openai.OpenAI(
        base_url="http://testserver/v1/gateway/oai/v1",
        api_key="sk-client-key",
        http_client=client,
        default_headers={"Helicone-Auth": f"Bearer {key}"},
        max_retries=0,
    )
    reply = llm.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    request_id = reply.headers["helicone-id"]
    assert wait_for(lambda: request_scores(client, key, request_id)) == {"quality": 8}
    judge_calls = {
        "filter": {"request_response_rmt": {"properties": {"Helicone-Evaluator": {"equals": "Quality"}}}}
    }
    logged = wait_for(
        lambda: call(client, key, "POST", "/v1/request/query-clickhouse", judge_calls, status=201)
    )
    assert len(logged) == 1
    assert logged[0]["scores"] == {}
    # The judge read the evaluated call's answer.
    judge_request = next(
        r
        for r in fake.requests
        if request_id not in json.dumps(r.body) and "fake-score: 8" in json.dumps(r.body)
    )
    assert "The answer is 4." in json.dumps(judge_request.body) or "Capital" in json.dumps(judge_request.body)


def test_failures_are_kept_and_shown(client: TestClient, key: str) -> None:
    crashing = _evaluator(
        client, key, "Crashes", scoring_type="PYTHON", code_template="raise ValueError('boom')"
    )
    _online(client, key, crashing)
    unusable = _evaluator(
        client,
        key,
        "Mute judge",
        scoring_type="LLM-BOOLEAN",
        llm_template=judge_template("Mute judge", say="fake-score: none"),
    )
    _online(client, key, unusable)
    request_id = log_chat(client, key, "Paris")
    failed = wait_for(lambda: call(client, key, "GET", f"/v1/evaluator/{crashing}/failures"))
    assert failed[0]["requestId"] == request_id
    assert "boom" in failed[0]["error"]
    assert failed[0]["attempts"] == 1  # a Python error is not retried
    # A judge's failure may be the provider's: retried with backoff (2 s), then kept.
    judged = wait_for(lambda: call(client, key, "GET", f"/v1/evaluator/{unusable}/failures"), timeout=30)
    assert judged[0]["attempts"] == 2
    assert "scorer" in judged[0]["error"]
    assert request_scores(client, key, request_id) == {}


def test_queued_evaluations_survive_a_restart(settings: Settings, engine: sa.Engine, key: str) -> None:
    stopped = settings.model_copy(update={"evaluation_workers": 0})
    with TestClient(create_app(stopped, db=engine)) as client:
        _says_paris(client, key)
        request_id = log_chat(client, key, "Paris")
        assert _jobs_left(engine) == 1
    with TestClient(create_app(settings, db=engine)) as client:
        assert wait_for(lambda: request_scores(client, key, request_id)) == {"says_paris-hcone-bool": 1}
        assert _jobs_left(engine) == 0


def test_stats_from_the_stored_scores(client: TestClient, key: str, engine: sa.Engine) -> None:
    evaluator_id = _says_paris(client, key)
    for answer in ("Paris", "Paris", "Paris", "Lyon"):
        log_chat(client, key, answer)
    wait_for(lambda: call(client, key, "GET", f"/v1/evaluator/{evaluator_id}/stats")["totalUses"] == 4)
    stats = call(client, key, "GET", f"/v1/evaluator/{evaluator_id}/stats")
    assert stats["averageScore"] == 0.75
    assert stats["scoreDistribution"] == [{"range": "false", "count": 1}, {"range": "true", "count": 3}]
    assert stats["recentTrend"] == "stable"
    assert len(stats["timeSeriesData"]) == 1
    assert stats["timeSeriesData"][0]["value"] == 0.75


def test_a_score_too_large_to_store_fails_once(client: TestClient, key: str) -> None:
    huge = _evaluator(
        client, key, "Huge", scoring_type="PYTHON", code_template="open('output.txt','w').write('1e300')"
    )
    _online(client, key, huge)
    request_id = log_chat(client, key, "Paris")
    failed = wait_for(lambda: call(client, key, "GET", f"/v1/evaluator/{huge}/failures"))
    assert failed[0]["attempts"] == 1
    assert "out of range" in failed[0]["error"]
    assert request_scores(client, key, request_id) == {}


def test_an_evaluator_deleted_while_it_runs_stores_nothing(
    client: TestClient, key: str, engine: sa.Engine
) -> None:
    slow = _evaluator(
        client,
        key,
        "Slow",
        scoring_type="PYTHON",
        code_template="import time\ntime.sleep(1.5)\nopen('output.txt','w').write('true')\n",
    )
    _online(client, key, slow)
    request_id = log_chat(client, key, "Paris")

    def running() -> bool:
        with engine.connect() as conn:
            return bool(conn.execute(sa.select(jobs.c.id).where(jobs.c.status == "running")).first())

    wait_for(running)
    call(client, key, "DELETE", f"/v1/evaluator/{slow}", status=204)
    time.sleep(2.5)  # the run finishes meanwhile
    assert request_scores(client, key, request_id) == {}
