"""Every ``Helicone-*`` request header the gateway honours (caching and rate limits aside), over HTTP.

Each test checks the three sides of a call: what the client got, what the fake provider received (or
that it received nothing), and what was logged, read back through the Request API.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.conftest import wait_for_log
from heliograph.dev.fake_provider import REPLY, USAGE, FakeProvider
from heliograph.gateway.estimate import TokenEstimator
from heliograph.pricing.prices import PriceTable, TokenUsage

CHAT = "/v1/gateway/oai/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
BODY = {"model": "gpt-4o-mini", "messages": MESSAGES}
FAST_RETRY = {"Helicone-Retry-Min-Timeout": "1", "Helicone-Retry-Max-Timeout": "5"}


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Helicone-Auth": f"Bearer {key}", **headers}


def cost(
    model: str, prompt: int = USAGE["prompt_tokens"], completion: int = USAGE["completion_tokens"]
) -> float:
    usage = TokenUsage(prompt_tokens=prompt, completion_tokens=completion)
    return PriceTable.default().cost_nanos("OPENAI", model, usage) / 1e9


def query(gateway: TestClient, key: str, filter: Any = "all") -> list[dict[str, Any]]:
    response = gateway.post(
        "/v1/request/query",
        headers={"authorization": f"Bearer {key}"},
        json={"filter": filter, "limit": 100},
    )
    assert response.status_code == 201, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


def logged_ids(gateway: TestClient, key: str, filter: Any) -> set[str]:
    return {row["request_id"] for row in query(gateway, key, filter)}


def logs_before_a_sentinel(gateway: TestClient, key: str) -> list[dict[str, Any]]:
    """Every log except that of one fresh call, once that call is logged: logs are written in order,
    so anything an earlier call was going to log is stored by then."""
    sentinel = gateway.post(CHAT, headers=auth(key), json=BODY)
    assert sentinel.status_code == 200
    wait_for_log(gateway, key, sentinel.headers["helicone-id"])
    return [row for row in query(gateway, key) if row["request_id"] != sentinel.headers["helicone-id"]]


def sse_text(chunks: list[bytes]) -> str:
    data = [line[6:] for line in b"".join(chunks).decode().splitlines() if line.startswith("data: {")]
    events = [orjson.loads(item) for item in data]
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])


# --- identity and metadata ------------------------------------------------------------------------------


def test_properties_are_stored_under_lower_cased_names_and_filterable(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    headers = auth(
        key,
        **{
            "Helicone-Property-Environment": "Staging",
            "Helicone-Property-App-Name": "web shop",
            "HELICONE-PROPERTY-TEAM": "Core",
            "Helicone-Property-": "a property without a name is ignored",
        },
    )
    response = gateway.post(CHAT, headers=headers, json=BODY)
    assert response.status_code == 200
    assert not [name for name in provider.requests[-1].headers if name.startswith("helicone-")]

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["properties"] == {"environment": "Staging", "app-name": "web shop", "team": "Core"}
    assert log["request_properties"] == log["properties"]

    other = gateway.post(CHAT, headers=auth(key, **{"Helicone-Property-Environment": "prod"}), json=BODY)
    wait_for_log(gateway, key, other.headers["helicone-id"])
    both = {
        "left": {"properties": {"environment": {"equals": "Staging"}}},
        "operator": "and",
        "right": {"properties": {"team": {"equals": "Core"}}},
    }
    assert logged_ids(gateway, key, both) == {response.headers["helicone-id"]}
    # Values keep their case; names are lower-cased, so the header's spelling does not matter.
    assert logged_ids(gateway, key, {"properties": {"Environment": {"equals": "Staging"}}}) == set()
    assert logged_ids(gateway, key, {"properties": {"environment": {"equals": "prod"}}}) == {
        other.headers["helicone-id"]
    }


def test_user_id_comes_from_the_header_else_from_the_body(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    from_header = gateway.post(CHAT, headers=auth(key, **{"Helicone-User-Id": "alice"}), json=BODY)
    from_body = gateway.post(CHAT, headers=auth(key), json={**BODY, "user": "bob"})
    both = gateway.post(
        CHAT, headers=auth(key, **{"Helicone-User-Id": "carol"}), json={**BODY, "user": "dan"}
    )
    nobody = gateway.post(CHAT, headers=auth(key), json=BODY)
    # The body's user field is the provider's business too: it is forwarded untouched.
    assert [r.body.get("user") for r in provider.requests] == [None, "bob", "dan", None]

    users = [
        wait_for_log(gateway, key, r.headers["helicone-id"])["request_user_id"]
        for r in (from_header, from_body, both, nobody)
    ]
    assert users == ["alice", "bob", "carol", None]  # the header wins over the body
    assert logged_ids(gateway, key, {"request_response_rmt": {"user_id": {"equals": "bob"}}}) == {
        from_body.headers["helicone-id"]
    }


def test_session_headers_are_logged_as_properties_and_filterable(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    session = {
        "Helicone-Session-Id": "3f1e6c4a-session",
        "Helicone-Session-Path": "/plan/step-1",
        "Helicone-Session-Name": "Trip planner",
    }
    first = gateway.post(CHAT, headers=auth(key, **session), json=BODY)
    second = gateway.post(
        CHAT, headers=auth(key, **{**session, "Helicone-Session-Path": "/plan/step-2"}), json=BODY
    )
    unrelated = gateway.post(CHAT, headers=auth(key, **{"Helicone-Session-Id": "other"}), json=BODY)
    assert all(r.status_code == 200 for r in (first, second, unrelated))
    assert not [name for r in provider.requests for name in r.headers if name.startswith("helicone-")]

    log = wait_for_log(gateway, key, first.headers["helicone-id"])
    assert log["properties"] == session
    wait_for_log(gateway, key, second.headers["helicone-id"])
    wait_for_log(gateway, key, unrelated.headers["helicone-id"])

    def session_filter(name: str, value: str) -> dict[str, Any]:
        return {"request_response_rmt": {"properties": {name: {"equals": value}}}}

    ids = (first.headers["helicone-id"], second.headers["helicone-id"])
    assert logged_ids(gateway, key, session_filter("Helicone-Session-Id", "3f1e6c4a-session")) == set(ids)
    assert logged_ids(gateway, key, session_filter("Helicone-Session-Path", "/plan/step-2")) == {ids[1]}
    assert logged_ids(gateway, key, session_filter("Helicone-Session-Name", "Trip planner")) == set(ids)


def test_a_uuid_request_id_becomes_the_helicone_id_and_the_log_id(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    chosen = str(uuid.uuid4())
    response = gateway.post(CHAT, headers=auth(key, **{"Helicone-Request-Id": chosen.upper()}), json=BODY)
    assert response.status_code == 200
    assert response.headers["helicone-id"] == chosen
    assert "helicone-request-id" not in provider.requests[-1].headers
    assert wait_for_log(gateway, key, chosen)["request_id"] == chosen
    # A non-UUID id is refused (see test_refused_headers_answer_400_and_nothing_is_forwarded).


# --- model override and cost ----------------------------------------------------------------------------


def test_model_override_names_and_prices_a_call_whose_models_have_no_price(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    plain = gateway.post(CHAT, headers=auth(key), json={**BODY, "model": "my-alias"})
    overridden = gateway.post(
        CHAT, headers=auth(key, **{"Helicone-Model-Override": "gpt-4o"}), json={**BODY, "model": "my-alias"}
    )
    assert overridden.json()["model"] == "my-alias"  # the answer is the provider's, untouched
    # The override only names the log: the provider is still asked for the body's model.
    assert [r.body["model"] for r in provider.requests] == ["my-alias", "my-alias"]
    assert "helicone-model-override" not in provider.requests[-1].headers

    unpriced = wait_for_log(gateway, key, plain.headers["helicone-id"])
    assert (unpriced["model"], unpriced["cost"]) == ("my-alias", 0)
    log = wait_for_log(gateway, key, overridden.headers["helicone-id"])
    assert log["model"] == "gpt-4o"
    assert log["model_override"] == "gpt-4o"
    assert (log["prompt_tokens"], log["completion_tokens"]) == (21, 6)
    assert log["cost"] == pytest.approx(cost("gpt-4o"))
    assert log["cost"] > 0
    assert logged_ids(gateway, key, {"request_response_rmt": {"model": {"equals": "gpt-4o"}}}) == {
        overridden.headers["helicone-id"]
    }


@pytest.mark.parametrize(
    ("request_model", "response_model", "priced_as"),
    [
        ("gpt-4o", "gpt-4o-mini", "gpt-4o-mini"),  # the response model first
        ("gpt-4o", "unpriced-response", "gpt-4o"),  # then the request model
        ("unpriced-request", "unpriced-response", "gpt-4"),  # then the override
    ],
)
def test_cost_uses_the_response_model_then_the_request_model_then_the_override(
    gateway: TestClient,
    key: str,
    provider: FakeProvider,
    request_model: str,
    response_model: str,
    priced_as: str,
) -> None:
    headers = auth(key, **{"Helicone-Model-Override": "gpt-4", "x-fake-response-model": response_model})
    response = gateway.post(CHAT, headers=headers, json={**BODY, "model": request_model})
    assert response.json()["model"] == response_model
    assert provider.requests[-1].body["model"] == request_model

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["response_model"] == response_model
    assert log["model"] == "gpt-4"  # the log is named by the override, as in Helicone
    assert log["cost"] == pytest.approx(cost(priced_as))
    assert len({cost("gpt-4o-mini"), cost("gpt-4o"), cost("gpt-4")}) == 3  # so the order is observable


# --- log control ----------------------------------------------------------------------------------------


def test_omit_request_and_response_keep_only_the_model_and_usage(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    both = gateway.post(
        CHAT,
        headers=auth(key, **{"Helicone-Omit-Request": "true", "Helicone-Omit-Response": "1"}),
        json={**BODY, "user": "alice"},
    )
    request_only = gateway.post(CHAT, headers=auth(key, **{"Helicone-Omit-Request": "YES"}), json=BODY)
    neither = gateway.post(CHAT, headers=auth(key, **{"Helicone-Omit-Response": "no"}), json=BODY)
    # The client and the provider see the whole call either way.
    assert both.json()["choices"][0]["message"]["content"] == REPLY
    assert provider.requests[0].body == {**BODY, "user": "alice"}

    log = wait_for_log(gateway, key, both.headers["helicone-id"])
    assert log["request_body"] == {"model": "gpt-4o-mini"}
    assert log["response_body"] == {
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 21, "completion_tokens": 6},
    }
    assert (log["prompt_tokens"], log["completion_tokens"]) == (21, 6)
    assert log["cost"] == pytest.approx(cost("gpt-4o-mini"))
    assert log["cost"] > 0
    assert log["request_user_id"] == "alice"
    assert log["delay_ms"] >= 0
    assert "What is 2+2?" not in str(log)
    assert REPLY not in str(log)

    log = wait_for_log(gateway, key, request_only.headers["helicone-id"])
    assert log["request_body"] == {"model": "gpt-4o-mini"}
    assert log["response_body"]["choices"][0]["message"]["content"] == REPLY

    log = wait_for_log(gateway, key, neither.headers["helicone-id"])
    assert log["request_body"]["messages"] == MESSAGES
    assert log["response_body"]["choices"][0]["message"]["content"] == REPLY


def test_prompt_id_and_version_are_recorded(gateway: TestClient, key: str, provider: FakeProvider) -> None:
    response = gateway.post(
        CHAT,
        headers=auth(key, **{"Helicone-Prompt-Id": "greeting", "Helicone-Prompt-Version": "3"}),
        json=BODY,
    )
    assert response.status_code == 200
    assert provider.requests[-1].body == BODY
    assert not [name for name in provider.requests[-1].headers if name.startswith("helicone-")]

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert (log["prompt_id"], log["prompt_version"]) == ("greeting", "3")
    assert log["properties"] == {"Helicone-Prompt-Id": "greeting"}
    assert logged_ids(gateway, key, {"request_response_rmt": {"prompt_id": {"equals": "greeting"}}}) == {
        response.headers["helicone-id"]
    }


# --- streams --------------------------------------------------------------------------------------------


def test_stream_usage_true_asks_a_custom_target_for_usage(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    path = "/v1/gateway/custom/v1/chat/completions"
    body = {"model": "llama3", "messages": MESSAGES, "stream": True}
    target = {"Helicone-Target-Url": provider.url}
    plain = gateway.post(path, headers=auth(key, **target), json=body)
    asked = gateway.post(path, headers=auth(key, **target, **{"Helicone-Stream-Usage": "true"}), json=body)
    assert sse_text([plain.content]).strip() == sse_text([asked.content]).strip() == REPLY
    assert "stream_options" not in provider.requests[0].body  # custom servers are not asked by default
    assert provider.requests[1].body == {**body, "stream_options": {"include_usage": True}}
    # The usage is for the log: neither client gets a usage chunk it did not ask for.
    assert asked.content == plain.content
    assert '"usage"' not in asked.text

    log = wait_for_log(gateway, key, asked.headers["helicone-id"])
    assert (log["prompt_tokens"], log["completion_tokens"]) == (21, 6)
    assert log["tokens_estimated"] is False
    assert log["request_body"]["stream_options"] == {"include_usage": True}
    estimated = wait_for_log(gateway, key, plain.headers["helicone-id"])
    assert estimated["tokens_estimated"] is True
    assert estimated["prompt_tokens"] == TokenEstimator().prompt_tokens(body)


def test_stream_usage_false_keeps_the_body_and_the_log_is_estimated(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    body = {**BODY, "stream": True}
    response = gateway.post(CHAT, headers=auth(key, **{"Helicone-Stream-Usage": "false"}), json=body)
    assert response.status_code == 200
    assert sse_text([response.content]).strip() == REPLY
    assert provider.requests[-1].body == body  # not injected, although OpenAI would accept it

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    estimator = TokenEstimator()
    assert log["tokens_estimated"] is True
    assert log["prompt_tokens"] == estimator.prompt_tokens(body) > 0
    assert log["completion_tokens"] == estimator.completion_tokens(REPLY + " ") > 0
    assert log["cost"] == pytest.approx(cost("gpt-4o-mini", log["prompt_tokens"], log["completion_tokens"]))


def _raw_stream(gateway: TestClient, headers: dict[str, str]) -> tuple[Mapping[str, str], list[bytes]]:
    """The response headers and the body chunks exactly as the gateway sent them."""
    with gateway.stream("POST", CHAT, headers=headers, json={**BODY, "stream": True}) as response:
        assert response.status_code == 200
        return response.headers, list(response.iter_raw())


def test_stream_force_format_sends_whole_lines_and_the_final_done(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    split = {"x-fake-split-bytes": "23", "x-fake-chunk-delay-ms": "1"}
    _, unformatted = _raw_stream(gateway, auth(key, **split))
    # The fake provider splits lines, and by default they reach the client as they came.
    assert any(not chunk.endswith(b"\n") for chunk in unformatted)

    reply, chunks = _raw_stream(gateway, auth(key, **split, **{"Helicone-Stream-Force-Format": "true"}))
    assert len(chunks) > 1
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    assert b"".join(chunks) == b"".join(unformatted)  # the same bytes, only cut differently
    assert chunks[-1].rstrip(b"\n").splitlines()[-1] == b"data: [DONE]"
    assert sse_text(chunks).strip() == REPLY
    assert "x-fake-split-bytes" in provider.requests[-1].headers
    assert "helicone-stream-force-format" not in provider.requests[-1].headers

    log = wait_for_log(gateway, key, reply["helicone-id"])
    assert (log["prompt_tokens"], log["completion_tokens"]) == (21, 6)
    assert log["response_status"] == 200
    assert log["time_to_first_token"] is not None


# --- token limit handler --------------------------------------------------------------------------------


def test_token_limit_fallback_switches_to_the_second_model_only_when_the_prompt_is_too_big(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    headers = auth(key, **{"Helicone-Token-Limit-Exception-Handler": "fallback"})
    big = [{"role": "user", "content": "word " * 8_000}]  # about 10k tokens by Helicone's estimate
    over = gateway.post(CHAT, headers=headers, json={"model": "gpt-4, gpt-4o-mini", "messages": big})
    under = gateway.post(CHAT, headers=headers, json={"model": "gpt-4, gpt-4o-mini", "messages": MESSAGES})
    assert over.status_code == under.status_code == 200
    assert [r.body["model"] for r in provider.requests] == ["gpt-4o-mini", "gpt-4"]
    assert provider.requests[0].body["messages"] == big  # fallback changes the model, never the text
    assert over.json()["model"] == "gpt-4o-mini"

    log = wait_for_log(gateway, key, over.headers["helicone-id"])
    assert log["model"] == "gpt-4o-mini"
    assert log["cost"] == pytest.approx(cost("gpt-4o-mini"))
    log = wait_for_log(gateway, key, under.headers["helicone-id"])
    assert log["model"] == "gpt-4"
    assert log["cost"] == pytest.approx(cost("gpt-4"))


# --- retries --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "calls"),
    [
        ({"Helicone-Retry-Enabled": "true", "x-fake-fail-times": "2"}, 200, 3),
        ({"Helicone-Retry-Enabled": "yes", "x-fake-fail-times": "1", "x-fake-status": "429"}, 200, 2),
        ({"Helicone-Retry-Enabled": "true", "Helicone-Retry-Num": "1", "x-fake-fail-times": "3"}, 500, 2),
        ({"x-fake-fail-times": "1"}, 500, 1),
        ({"Helicone-Retry-Enabled": "false", "x-fake-fail-times": "1"}, 500, 1),
        ({"Helicone-Retry-Enabled": "0", "x-fake-fail-times": "1"}, 500, 1),
    ],
    ids=["5xx-retried", "429-retried", "retry-num-bounds", "absent", "false", "zero"],
)
def test_retries_return_the_last_answer_and_log_only_it(
    gateway: TestClient, key: str, provider: FakeProvider, headers: dict[str, str], status: int, calls: int
) -> None:
    response = gateway.post(CHAT, headers=auth(key, **headers, **FAST_RETRY), json=BODY)
    assert response.status_code == status
    assert len(provider.requests) == calls
    assert all(r.body == BODY for r in provider.requests)
    assert not [name for r in provider.requests for name in r.headers if name.startswith("helicone-")]

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["response_status"] == status
    if status == 200:
        assert response.json()["choices"][0]["message"]["content"] == REPLY
        assert (log["prompt_tokens"], log["completion_tokens"]) == (21, 6)
    else:  # the provider's own error answer, as it sent it
        assert response.json()["error"]["message"] == log["response_body"]["error"]["message"]
    assert [row["request_id"] for row in logs_before_a_sentinel(gateway, key)] == [log["request_id"]]


# --- fallbacks ------------------------------------------------------------------------------------------


def fallbacks(*entries: dict[str, Any]) -> dict[str, str]:
    return {"Helicone-Fallbacks": orjson.dumps(list(entries)).decode()}


def test_a_fallback_entry_answering_one_of_its_on_codes_moves_on_to_the_next(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    header = fallbacks(
        {
            "target-url": provider.url,
            "headers": {"x-fake-status": "503", "authorization": "Bearer sk-first"},
            "onCodes": [503],
            "bodyKeyOverride": {"model": "gpt-4o"},
        },
        {
            "target-url": provider.url,
            "headers": {"authorization": "Bearer sk-second", "Helicone-Property-Leak": "no"},
            "bodyKeyOverride": {"model": "gpt-4o-mini", "temperature": 0},
        },
    )
    headers = auth(key, authorization="Bearer sk-client", **header, **{"Helicone-Property-Env": "ci"})
    response = gateway.post(CHAT, headers=headers, json={**BODY, "model": "my-model"})
    assert response.status_code == 200
    assert response.headers["helicone-fallback-index"] == "1"
    assert response.json()["model"] == "gpt-4o-mini"

    first, second = provider.requests
    assert (first.path, second.path) == ("/v1/chat/completions", "/v1/chat/completions")
    assert first.body == {**BODY, "model": "gpt-4o"}
    assert second.body == {**BODY, "model": "gpt-4o-mini", "temperature": 0}
    # Entry headers are laid over the call's own and never carry Helicone-* headers upstream.
    assert (first.headers["authorization"], second.headers["authorization"]) == (
        "Bearer sk-first",
        "Bearer sk-second",
    )
    assert "x-fake-status" not in second.headers
    assert not [name for r in provider.requests for name in r.headers if name.startswith("helicone-")]

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["response_status"] == 200
    assert log["request_body"]["model"] == "gpt-4o-mini"
    assert log["properties"] == {"env": "ci"}
    failed = [row for row in logs_before_a_sentinel(gateway, key) if row["request_id"] != log["request_id"]]
    assert len(failed) == 1
    assert failed[0]["response_status"] == 503
    assert failed[0]["properties"] == {"env": "ci"}
    failed_log = wait_for_log(gateway, key, failed[0]["request_id"])
    assert failed_log["request_body"]["model"] == "gpt-4o"  # each attempt is logged as it was sent
    assert failed_log["response_body"]["error"]["message"] == "fake failure 503"


@pytest.mark.parametrize(
    ("first", "second", "status", "index", "logged"),
    [
        # A status outside the entry's onCodes is the answer, with index 0.
        (({"x-fake-status": "500"}, [503, 429]), ({}, []), 500, 0, [500]),
        # {from, to} ranges; the last entry's answer is returned even when it is in its own onCodes.
        (
            ({"x-fake-status": "502"}, [{"from": 500, "to": 599}]),
            ({"x-fake-status": "504"}, [{"from": 500, "to": 599}]),
            504,
            1,
            [502, 504],
        ),
        # An entry that cannot be reached counts as 502 (and is logged as a connection failure).
        (({"x-fake-drop": "before"}, [502]), ({}, []), 200, 1, [-100, 200]),
    ],
    ids=["outside-on-codes", "range-and-last", "unreachable"],
)
def test_which_fallback_answer_the_client_gets(
    gateway: TestClient,
    key: str,
    provider: FakeProvider,
    first: tuple[dict[str, str], list[Any]],
    second: tuple[dict[str, str], list[Any]],
    status: int,
    index: int,
    logged: list[int],
) -> None:
    entries = [{"target-url": provider.url, "headers": h, "onCodes": codes} for h, codes in (first, second)]
    response = gateway.post(CHAT, headers=auth(key, **fallbacks(*entries)), json=BODY)
    assert response.status_code == status
    assert response.headers["helicone-fallback-index"] == str(index)
    assert len(provider.requests) == len(logged)

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["response_status"] == status
    assert sorted(row["response_status"] for row in logs_before_a_sentinel(gateway, key)) == logged


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('[{"target-url": "http://127.0.0.1:1"', "Helicone-Fallbacks must be a JSON array"),
        ("[]", "non-empty JSON array"),
        ('[{"headers": {}}]', '"target-url" must be a non-empty string'),
        ('[{"target-url": "http://127.0.0.1:1", "onCodes": ["5xx"]}]', "onCodes entries"),
        ('[{"target-url": "http://10.1.2.3:8080"}]', "'10.1.2.3' is not on the gateway allow-list"),
        # Every target is checked before the first is called (that one would fail with 502 and move on).
        (
            '[{"target-url": "http://127.0.0.1:1", "onCodes": [502]}, {"target-url": "http://metadata.internal"}]',
            "'metadata.internal' is not on the gateway allow-list",
        ),
    ],
    ids=["bad-json", "empty", "no-target", "bad-on-codes", "not-allowed", "later-not-allowed"],
)
def test_invalid_fallbacks_are_refused_before_anything_is_forwarded(
    gateway: TestClient, key: str, provider: FakeProvider, value: str, message: str
) -> None:
    response = gateway.post(CHAT, headers=auth(key, **{"Helicone-Fallbacks": value}), json=BODY)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert provider.requests == []
    assert logs_before_a_sentinel(gateway, key) == []


# --- refused and ignored headers ------------------------------------------------------------------------

UNSUPPORTED = (
    "Helicone-Moderations-Enabled",
    "Helicone-LLM-Security-Enabled",
    "Helicone-Prompt-Security-Enabled",
)
BOOLEANS = (
    "Omit-Request",
    "Omit-Response",
    "Retry-Enabled",
    "Stream-Usage",
    "Stream-Force-Format",
    "Cache-Enabled",
)
REFUSED = [
    ({"Helicone-Request-Id": "my-request-1"}, "Helicone-Request-Id must be a UUID, got 'my-request-1'"),
    *[({name: "true"}, f"({name}) is not supported by Heliograph yet") for name in UNSUPPORTED],
    *[
        ({f"Helicone-{name}": "maybe"}, f"Helicone-{name} must be true or false, got 'maybe'")
        for name in BOOLEANS
    ],
    (
        {"Helicone-Moderations-Enabled": "on second thought"},
        "Helicone-Moderations-Enabled must be true or false",
    ),
    (
        {"Helicone-Token-Limit-Exception-Handler": "explode"},
        "Helicone-Token-Limit-Exception-Handler must be one of truncate, middle-out, fallback, got 'explode'",
    ),
]


def test_refused_headers_answer_400_and_nothing_is_forwarded(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    for headers, message in REFUSED:
        response = gateway.post(CHAT, headers=auth(key, **headers), json=BODY)
        assert response.status_code == 400, headers
        assert message in response.json()["message"]
    assert provider.requests == []
    assert logs_before_a_sentinel(gateway, key) == []


def test_unsupported_features_switched_off_are_ignored(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    response = gateway.post(CHAT, headers=auth(key, **dict.fromkeys(UNSUPPORTED, "false")), json=BODY)
    assert response.status_code == 200
    assert provider.requests[-1].body == BODY
    assert not [name for name in provider.requests[-1].headers if name.startswith("helicone-")]
    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert (log["response_status"], log["properties"]) == (200, {})


# --- azure ----------------------------------------------------------------------------------------------


def test_openai_api_base_aims_the_azure_route(gateway: TestClient, key: str, provider: FakeProvider) -> None:
    path = "/v1/gateway/azure/openai/deployments/my-deployment/chat/completions?api-version=2024-06-01"
    headers = auth(key, **{"Helicone-OpenAI-Api-Base": provider.url, "api-key": "azure-key"})
    response = gateway.post(path, headers=headers, json={"messages": MESSAGES})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == REPLY
    upstream = provider.requests[-1]
    assert upstream.path == "/openai/deployments/my-deployment/chat/completions?api-version=2024-06-01"
    assert upstream.headers["api-key"] == "azure-key"
    assert "helicone-openai-api-base" not in upstream.headers

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["provider"] == "AZURE"  # the route says so, whatever the host
    assert log["target_url"] == f"{provider.url}/openai/deployments/my-deployment/chat/completions"
    assert log["request_path"] == "/openai/deployments/my-deployment/chat/completions"
    assert log["response_status"] == 200
    assert (log["model"], log["prompt_tokens"], log["completion_tokens"]) == ("gpt-4o-mini", 21, 6)
    usage = TokenUsage(prompt_tokens=21, completion_tokens=6)
    assert log["cost"] == pytest.approx(PriceTable.default().cost_nanos("AZURE", "gpt-4o-mini", usage) / 1e9)
    assert log["cost"] > 0

    missing = gateway.post(path, headers=auth(key), json={"messages": MESSAGES})
    assert missing.status_code == 400
    assert "Helicone-OpenAI-Api-Base" in missing.json()["message"]
    refused = gateway.post(
        path,
        headers=auth(key, **{"Helicone-OpenAI-Api-Base": "http://192.168.1.1"}),
        json={"messages": MESSAGES},
    )
    assert refused.status_code == 400
    assert "allow-list" in refused.json()["message"]
    assert len(provider.requests) == 1


# --- response headers -----------------------------------------------------------------------------------


def test_every_proxied_answer_carries_helicone_id_and_status(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    ok = gateway.post(CHAT, headers=auth(key), json=BODY)
    failed = gateway.post(CHAT, headers=auth(key, **{"x-fake-status": "503"}), json=BODY)
    streamed, _ = _raw_stream(gateway, auth(key))
    assert (ok.status_code, failed.status_code) == (200, 503)
    assert len(provider.requests) == 3
    # "success" means the gateway handled the call, not that the provider's answer was a 2xx.
    assert [h["helicone-status"] for h in (ok.headers, failed.headers, streamed)] == ["success"] * 3
    ids = [h["helicone-id"] for h in (ok.headers, failed.headers, streamed)]
    assert len(set(ids)) == 3
    assert all(str(uuid.UUID(helicone_id)) == helicone_id for helicone_id in ids)
    statuses = [wait_for_log(gateway, key, helicone_id)["response_status"] for helicone_id in ids]
    assert statuses == [200, 503, 200]
