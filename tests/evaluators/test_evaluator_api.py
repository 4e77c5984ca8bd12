"""The Evaluator API over HTTP on both databases: definitions, online configurations, trying each kind,
and the judge's call going through the gateway path to the fake provider, logged in the organization."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heliograph.dev.fake_provider import FakeProvider
from support.http import auth

from .support import call, judge_template, wait_for

TEST_INPUT = {
    "inputBody": json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "2+2?"}]}),
    "outputBody": json.dumps({"choices": [{"message": {"role": "assistant", "content": "4"}}]}),
    "inputs": {"inputs": {"question": "2+2?"}, "autoInputs": {}},
}


def _judge(
    client: TestClient, key: str, name: str = "Helpful", kind: str = "boolean", **extra: str
) -> dict[str, Any]:
    body = {
        "name": name,
        "scoring_type": f"LLM-{kind.upper()}",
        "llm_template": judge_template(name, kind, **extra),
    }
    created: dict[str, Any] = call(client, key, "POST", "/v1/evaluator", body, status=201)
    return created


def test_create_get_query_update_delete(client: TestClient, key: str) -> None:
    created = _judge(client, key)
    assert created["name"] == "Helpful"
    assert created["scoring_type"] == "LLM-BOOLEAN"
    assert created["code_template"] is None
    assert created["llm_template"]["tools"][0]["function"]["name"] == "scorer"
    evaluator_id = created["id"]
    assert call(client, key, "GET", f"/v1/evaluator/{evaluator_id}") == created
    python = call(
        client,
        key,
        "POST",
        "/v1/evaluator",
        {
            "name": "Has digits",
            "scoring_type": "PYTHON",
            "code_template": "open('output.txt','w').write('true')",
        },
        status=201,
    )
    assert python["code_template"] is None  # as Helicone: reads leave the code out
    listed = call(client, key, "POST", "/v1/evaluator/query", {})
    assert [e["id"] for e in listed] == [python["id"], evaluator_id]  # newest first
    # The name is accepted and ignored; the new definition replaces the old one.
    updated = call(
        client,
        key,
        "PUT",
        f"/v1/evaluator/{evaluator_id}",
        {"name": "Renamed", "scoring_type": "LLM-RANGE", "llm_template": judge_template("Helpful", "range")},
    )
    assert updated["name"] == "Helpful"
    assert updated["scoring_type"] == "LLM-RANGE"
    assert call(client, key, "PUT", f"/v1/evaluator/{evaluator_id}", {"name": "x"}, status=400) == (
        "No fields to update"
    )
    call(client, key, "DELETE", f"/v1/evaluator/{evaluator_id}", status=204)
    call(client, key, "GET", f"/v1/evaluator/{evaluator_id}", status=404)
    call(client, key, "DELETE", f"/v1/evaluator/{evaluator_id}", status=404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scoring_type": "LLM-BOOLEAN"}, "llm_template"),
        ({"name": "x", "scoring_type": "SOMETHING", "code_template": "pass"}, "scoring_type"),
        ({"name": " ", "scoring_type": "PYTHON", "code_template": "pass"}, "name"),
        ({"name": "x", "scoring_type": "PYTHON", "code_template": 7}, "code_template"),
        ({"name": "x", "scoring_type": "LLM-BOOLEAN", "llm_template": {"model": "m"}}, "llm_template"),
        ({"name": "x", "scoring_type": "CHECK", "check_config": {"_type": "nope"}}, "check_config"),
        (
            {"name": "x", "scoring_type": "LAST_MILE", "last_mile_config": {"_type": "relevance"}},
            "last_mile_config",
        ),
    ],
)
def test_definitions_that_cannot_run_are_refused(
    client: TestClient, key: str, body: dict[str, Any], field: str
) -> None:
    assert field in call(client, key, "POST", "/v1/evaluator", body, status=400)


def test_unknown_fields_are_422_as_tsoa(client: TestClient, key: str) -> None:
    response = client.post(
        "/v1/evaluator", json={"name": "x", "scoring_type": "PYTHON", "code": "1"}, headers=auth(key)
    )
    assert response.status_code == 422


def test_other_organizations_see_nothing(client: TestClient, key: str, make_key: Callable[..., str]) -> None:
    evaluator_id = _judge(client, key)["id"]
    other = make_key(org="other")
    call(client, other, "GET", f"/v1/evaluator/{evaluator_id}", status=404)
    assert call(client, other, "POST", "/v1/evaluator/query", {}) == []
    call(client, other, "DELETE", f"/v1/evaluator/{evaluator_id}", status=404)
    call(client, other, "POST", f"/v1/evaluator/{evaluator_id}/onlineEvaluators", {"config": {}}, status=404)
    call(client, other, "GET", f"/v1/evaluator/{evaluator_id}/stats", status=404)


def test_online_configurations(client: TestClient, key: str) -> None:
    evaluator_id = _judge(client, key)["id"]
    path = f"/v1/evaluator/{evaluator_id}/onlineEvaluators"
    assert call(client, key, "POST", path, {"config": {}}) is None
    filters = [{"key": "env", "value": "prod"}]
    call(client, key, "POST", path, {"config": {"sampleRate": 12.5, "propertyFilters": filters}})
    listed = call(client, key, "GET", path)
    assert [c["config"] for c in listed] == [
        {"sampleRate": 100, "propertyFilters": []},
        {"sampleRate": 12.5, "propertyFilters": filters},
    ]
    assert "sampleRate" in call(client, key, "POST", path, {"config": {"sampleRate": 150}}, status=400)
    assert "propertyFilters[0]" in call(
        client, key, "POST", path, {"config": {"propertyFilters": [{"key": "env"}]}}, status=400
    )
    call(client, key, "DELETE", f"{path}/{listed[0]['id']}", status=204)
    call(client, key, "DELETE", f"{path}/{listed[0]['id']}", status=404)
    assert [c["id"] for c in call(client, key, "GET", path)] == [listed[1]["id"]]
    call(client, key, "DELETE", f"/v1/evaluator/{evaluator_id}", status=204)
    assert call(client, key, "GET", path) == []


@pytest.mark.parametrize(
    ("kind", "say", "score"),
    [
        ("boolean", "", True),
        ("boolean", "fake-score: false", False),
        ("choice", "fake-score: 3", 3),
        ("range", "fake-score: 7", 7),
    ],
)
def test_llm_test_returns_the_score_object(
    client: TestClient, key: str, fake: FakeProvider, kind: str, say: str, score: object
) -> None:
    """``{score}`` for every type, booleans too (Helicone answers a bare boolean)."""
    marker = f"marker-{uuid.uuid4()}"
    body = {
        "evaluatorConfig": {
            "evaluator_scoring_type": kind,
            "evaluator_llm_template": json.dumps(judge_template("Helpful", kind, say=f"{say} {marker}")),
        },
        "testInput": TEST_INPUT,
        "evaluatorName": "Helpful",
    }
    assert call(client, key, "POST", "/v1/evaluator/llm/test", body) == {"score": score}
    sent = [r for r in fake.requests if marker in json.dumps(r.body)]
    assert len(sent) == 1
    # The template was filled: the answer text reached the judge; the server's own key was used.
    assert '\\"content\\": \\"4\\"' in json.dumps(sent[0].body) or '"content": "4"' in json.dumps(
        sent[0].body
    )
    assert sent[0].headers["authorization"] == "Bearer sk-fake-openai"


def test_the_judge_call_is_logged_with_the_evaluator_property(client: TestClient, key: str) -> None:
    marker = f"marker-{uuid.uuid4()}"
    body = {
        "evaluatorConfig": {
            "evaluator_scoring_type": "LLM-BOOLEAN",
            "evaluator_llm_template": json.dumps(judge_template("Helpful", say=marker)),
        },
        "testInput": TEST_INPUT,
        "evaluatorName": "Helpful",
    }
    call(client, key, "POST", "/v1/evaluator/llm/test", body)
    query = {
        "filter": {"request_response_rmt": {"properties": {"Helicone-Evaluator": {"equals": "Helpful"}}}}
    }
    logged = wait_for(lambda: call(client, key, "POST", "/v1/request/query-clickhouse", query, status=201))
    assert len(logged) == 1
    assert logged[0]["provider"] == "OPENAI"
    assert logged[0]["properties"]["Helicone-Evaluator"] == "Helpful"


def test_anthropic_judges_use_tool_use(client: TestClient, key: str, fake: FakeProvider) -> None:
    marker = f"marker-{uuid.uuid4()}"
    template = judge_template(
        "Helpful", "range", model="claude-3-5-haiku-20241022", say=f"fake-score: 9 {marker}"
    )
    body = {
        "evaluatorConfig": {
            "evaluator_scoring_type": "range",
            "evaluator_llm_template": json.dumps(template),
        },
        "testInput": TEST_INPUT,
        "evaluatorName": "Helpful",
    }
    assert call(client, key, "POST", "/v1/evaluator/llm/test", body) == {"score": 9}
    sent = next(r for r in fake.requests if marker in json.dumps(r.body))
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-fake-anthropic"
    assert sent.body["tools"][0]["name"] == "scorer"


@pytest.mark.parametrize(
    ("say", "expected"), [("fake-score: none", "scorer"), ("fake-score: garbage", "JSON")]
)
def test_a_judge_without_a_usable_score_is_an_error_not_a_crash(
    client: TestClient, key: str, say: str, expected: str
) -> None:
    body = {
        "evaluatorConfig": {
            "evaluator_scoring_type": "boolean",
            "evaluator_llm_template": json.dumps(judge_template("Helpful", say=say)),
        },
        "testInput": TEST_INPUT,
        "evaluatorName": "Helpful",
    }
    assert expected in call(client, key, "POST", "/v1/evaluator/llm/test", body, status=422)


def test_a_missing_provider_key_names_the_setting(client: TestClient, key: str) -> None:
    body = {
        "evaluatorConfig": {
            "evaluator_scoring_type": "boolean",
            "evaluator_llm_template": json.dumps(judge_template("Helpful", model="mistralai/mistral-small")),
        },
        "testInput": TEST_INPUT,
        "evaluatorName": "Helpful",
    }
    assert "HELIOGRAPH_PROVIDER_KEY_OPENROUTER" in call(
        client, key, "POST", "/v1/evaluator/llm/test", body, status=422
    )


def test_python_test(client: TestClient, key: str) -> None:
    code = (
        "import json\n"
        "answer = json.load(open('response.json'))['choices'][0]['message']['content']\n"
        "print('checking', answer)\n"
        "open('output.txt', 'w').write('true' if answer == '4' else 'false')\n"
    )
    found = call(client, key, "POST", "/v1/evaluator/python/test", {"code": code, "testInput": TEST_INPUT})
    assert found["output"] == "true"
    assert found["statusCode"] == 0
    assert found["error"] is None
    assert any("checking 4" in line for line in found["traces"])
    failing = call(client, key, "POST", "/v1/evaluator/python/test", {"code": "1/0", "testInput": TEST_INPUT})
    assert failing["statusCode"] not in (0, None)
    assert "ZeroDivisionError" in (failing["error"] + "".join(failing["traces"]))


def test_lastmile_test_is_a_built_in_judge(client: TestClient, key: str, fake: FakeProvider) -> None:
    config = {
        "name": "relevance",
        "_type": "relevance",
        "input": {"_type": "input-body", "content": "message"},
        "output": {"_type": "output-body", "content": "message"},
    }
    found = call(
        client, key, "POST", "/v1/evaluator/lastmile/test", {"config": config, "testInput": TEST_INPUT}
    )
    assert 0 <= found["score"] <= 100
    assert "2+2?" in found["input"]
    assert found["output"] == "4"
    assert "ground_truth" not in found


def test_check_test(client: TestClient, key: str) -> None:
    passed = call(
        client,
        key,
        "POST",
        "/v1/evaluator/check/test",
        {"config": {"_type": "regex", "pattern": r"^\d+$"}, "testInput": TEST_INPUT},
    )
    assert passed["score"] is True
    failed = call(
        client,
        key,
        "POST",
        "/v1/evaluator/check/test",
        {"config": {"_type": "not_contains", "value": "4"}, "testInput": TEST_INPUT},
    )
    assert failed["score"] is False
    assert failed["detail"]
    refused = call(
        client,
        key,
        "POST",
        "/v1/evaluator/check/test",
        {"config": {"_type": "contains"}, "testInput": TEST_INPUT},
        status=400,
    )
    assert "value" in refused


def test_another_organizations_delete_touches_nothing(
    client: TestClient, key: str, make_key: Callable[..., str]
) -> None:
    evaluator_id = _judge(client, key)["id"]
    path = f"/v1/evaluator/{evaluator_id}/onlineEvaluators"
    call(client, key, "POST", path, {"config": {}})
    call(client, make_key(org="other"), "DELETE", f"/v1/evaluator/{evaluator_id}", status=404)
    assert len(call(client, key, "GET", path)) == 1


def test_names_whose_scores_would_collide_are_refused(client: TestClient, key: str) -> None:
    _judge(client, key, name="Says Paris")
    body = {"name": "says paris", "scoring_type": "PYTHON", "code_template": "pass"}
    assert "says_paris" in call(client, key, "POST", "/v1/evaluator", body, status=409)


def test_a_definition_takes_only_its_own_field(client: TestClient, key: str) -> None:
    body = {
        "name": "Both",
        "scoring_type": "PYTHON",
        "code_template": "pass",
        "check_config": {"_type": "json_valid"},
    }
    assert "check_config" in call(client, key, "POST", "/v1/evaluator", body, status=400)
    remote = {"_type": "json_schema", "schema": {"$ref": "https://example.com/s.json"}}
    body = {"name": "Remote", "scoring_type": "CHECK", "check_config": remote}
    assert "$ref" in call(client, key, "POST", "/v1/evaluator", body, status=400)
    # Changing the scoring type to one that needs another definition needs that definition.
    evaluator_id = _judge(client, key, name="Switch")["id"]
    call(client, key, "PUT", f"/v1/evaluator/{evaluator_id}", {"scoring_type": "PYTHON"}, status=400)
    switched = call(
        client,
        key,
        "PUT",
        f"/v1/evaluator/{evaluator_id}",
        {"scoring_type": "PYTHON", "code_template": "pass"},
    )
    assert switched["scoring_type"] == "PYTHON"
    assert switched["llm_template"] is None


def test_a_check_that_cannot_run_is_a_422(client: TestClient, key: str) -> None:
    body = {"config": {"_type": "equals", "inputKey": "expected"}, "testInput": TEST_INPUT}
    assert "expected" in call(client, key, "POST", "/v1/evaluator/check/test", body, status=422)
