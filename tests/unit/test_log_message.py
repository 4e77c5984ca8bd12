"""Decoding Helicone's ``/v1/log/request`` message into a request record."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from heliograph.ingest.log_message import LogMessageError, log_message_to_request, message_authorization
from heliograph.pricing.prices import PriceTable
from heliograph.records import RequestRecord

PRICES = PriceTable.default()
NOW = 1_700_000_000_000
REQUEST_ID = "5d3f1c2e-8a4b-4c6d-9e0f-1a2b3c4d5e6f"
CACHE_HIT = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
ZERO = "00000000-0000-0000-0000-000000000000"


def worker_message() -> dict[str, Any]:
    """What Helicone's worker sends: Dates as JSON.stringify writes them, numbers as numbers."""
    return {
        "authorization": "Bearer sk-heliograph-test",
        "heliconeMeta": {
            "modelOverride": None,
            "omitRequestLog": False,
            "omitResponseLog": False,
            "webhookEnabled": False,
            "heliconeManualAccessKey": "deployment-secret",
        },
        "log": {
            "request": {
                "id": REQUEST_ID,
                "userId": "user-42",
                "properties": {
                    "environment": "prod",
                    "Helicone-Session-Id": "sess-1",
                    "Helicone-Session-Path": "/triage",
                    "Helicone-Session-Name": "Support",
                },
                "heliconeApiKeyId": 17,
                "targetUrl": "https://api.openai.com",
                "provider": "OPENAI",
                "bodySize": 512,
                "path": "/v1/chat/completions",
                "threat": False,
                "countryCode": "DE",
                "requestCreatedAt": "2023-11-14T22:13:20.250Z",
                "isStream": False,
                "cacheEnabled": True,
                "cacheReferenceId": ZERO,
                "requestReferrer": "https://app.example.com",
                "promptId": "legacy-prompt",
            },
            "response": {
                "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                "status": 200,
                "bodySize": 900,
                "timeToFirstToken": 310,
                "responseCreatedAt": "2023-11-14T22:13:21.500Z",
                "delayMs": 1250,
                "cachedLatency": 0,
                "promptTokens": 2000,
                "completionTokens": 100,
                "promptCacheReadTokens": 1024,
                "reasoningTokens": 0,
                "model": "gpt-4o",
            },
        },
    }


def rust_message() -> dict[str, Any]:
    """What the Rust gateway sends: f64 numbers, nanosecond RFC 3339 times, no usage and no model."""
    return {
        "authorization": "Bearer sk-heliograph-test",
        "heliconeMeta": {"omitRequestLog": False, "omitResponseLog": False, "webhookEnabled": False},
        "log": {
            "request": {
                "id": REQUEST_ID,
                "userId": "user-42",
                "properties": {},
                "targetUrl": "https://generativelanguage.googleapis.com/",
                "provider": "GOOGLE",
                "bodySize": 120.0,
                "path": "/v1beta/models/gemini-1.5-flash:generateContent",
                "requestCreatedAt": "2023-11-14T22:13:20.250123456Z",
                "isStream": False,
            },
            "response": {
                "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                "status": 200.0,
                "bodySize": 300.0,
                "responseCreatedAt": "2023-11-14T22:13:20.750987654Z",
                "delayMs": 500.0,
            },
        },
    }


def convert(body: Any) -> RequestRecord:
    return log_message_to_request(body, organization_id=7, api_key_id=3, now=NOW, prices=PRICES)


def test_worker_message_maps_every_field() -> None:
    record = convert(worker_message())
    assert record.id == uuid.UUID(REQUEST_ID)
    assert (record.organization_id, record.api_key_id, record.source) == (7, 3, "gateway")
    assert record.created_at == NOW + 250
    assert record.response_created_at == NOW + 1500
    assert (record.latency, record.time_to_first_token, record.status) == (1250, 310, 200)
    assert (record.provider, record.model, record.response_model) == ("OPENAI", "gpt-4o", "gpt-4o")
    assert record.model_override is None
    assert (record.path, record.target_url) == ("/v1/chat/completions", "https://api.openai.com")
    assert record.user_id == "user-42"
    assert record.properties == {"environment": "prod"}
    assert (record.session_id, record.session_path, record.session_name) == ("sess-1", "/triage", "Support")
    assert (record.prompt_id, record.prompt_version) == ("legacy-prompt", None)
    assert record.cache_enabled is True
    assert record.cache_reference_id is None  # the zero UUID means "not a cache hit"
    assert (record.country_code, record.threat) == ("DE", False)
    assert record.request_referrer == "https://app.example.com"
    assert (record.prompt_tokens, record.completion_tokens) == (2000, 100)
    assert record.prompt_cache_read_tokens == 1024
    # gpt-4o: 976 uncached at $2.50/1M, 1024 cached at $1.25/1M, 100 output at $10/1M.
    assert record.cost == 4_720_000
    # Bodies live in Helicone's object storage, not in the message.
    assert record.request_body is None
    assert record.response_body is None
    assert "deployment-secret" not in repr(record)


def test_rust_gateway_message_with_float_numbers_and_nanosecond_times() -> None:
    record = convert(rust_message())
    assert record.status == 200
    assert record.created_at == NOW + 250
    assert record.response_created_at == NOW + 750
    assert record.latency == 500
    assert record.provider == "GOOGLE"
    # No model anywhere but the path, which Helicone falls back to as well.
    assert record.model == "gemini-1.5-flash"
    assert record.prompt_tokens is None
    assert record.completion_tokens is None
    assert record.cost == 0
    assert record.properties == {}


def test_a_cost_in_the_message_is_stored_as_sent() -> None:
    message = worker_message()
    message["log"]["response"]["cost"] = 0.0123
    assert convert(message).cost == 12_300_000
    message["log"]["response"]["cost"] = -1
    assert convert(message).cost == 0


def test_gateway_metadata_wins_over_the_request_fields() -> None:
    message = worker_message()
    message["heliconeMeta"].update(
        {
            "gatewayProvider": "anthropic",
            "gatewayModel": "claude-3-5-sonnet-20241022",
            "promptId": "prompt-2025",
            "promptVersionId": "v3",
            "modelOverride": "my-model",
        }
    )
    message["log"]["response"].update(
        {"promptTokens": 1000, "completionTokens": 10, "promptCacheReadTokens": 0}
    )
    record = convert(message)
    assert record.provider == "ANTHROPIC"
    assert record.model == "claude-3-5-sonnet-20241022"
    assert record.request_model == "claude-3-5-sonnet-20241022"
    assert record.model_override == "my-model"
    assert (record.prompt_id, record.prompt_version) == ("prompt-2025", "v3")
    assert record.cost == (1000 * 3 + 10 * 15) * 1000  # $3 / $15 per 1M tokens, in nano-USD


def test_model_override_comes_before_the_response_model() -> None:
    message = worker_message()
    message["heliconeMeta"]["modelOverride"] = "gpt-4o-mini"
    record = convert(message)
    assert record.model == "gpt-4o-mini"
    assert record.model_override == "gpt-4o-mini"
    assert record.response_model == "gpt-4o"


def test_cache_hit_has_no_tokens_and_no_cost() -> None:
    message = worker_message()
    message["log"]["request"]["cacheReferenceId"] = CACHE_HIT
    message["log"]["response"]["cost"] = 0.5
    record = convert(message)
    assert record.cache_reference_id == uuid.UUID(CACHE_HIT)
    assert (record.prompt_tokens, record.completion_tokens, record.prompt_cache_read_tokens) == (0, 0, 0)
    assert record.cost == 0


def test_unknown_token_counts_stay_unknown() -> None:
    message = worker_message()
    message["log"]["response"].update(
        {"promptTokens": -1, "completionTokens": -1, "promptCacheReadTokens": -1}
    )
    record = convert(message)
    assert (record.prompt_tokens, record.completion_tokens, record.prompt_cache_read_tokens) == (
        None,
        None,
        0,
    )
    assert record.cost == 0


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (1_700_000_000, NOW),  # epoch seconds
        (1_700_000_000_250, NOW + 250),  # epoch milliseconds
        ("1700000000", NOW),  # digit strings follow the same rule
        ({"seconds": 1_700_000_000, "milliseconds": 5}, NOW + 5),
        ("2023-11-14T23:13:20+01:00", NOW),
        ("Tue, 14 Nov 2023 22:13:20 GMT", NOW),
    ],
)
def test_times_are_read_liberally(created: Any, expected: int) -> None:
    message = worker_message()
    message["log"]["request"]["requestCreatedAt"] = created
    assert convert(message).created_at == expected


def test_missing_times_are_derived() -> None:
    message = worker_message()
    del message["log"]["request"]["requestCreatedAt"]
    record = convert(message)
    assert record.created_at == NOW + 1500 - 1250  # response time minus the delay
    message = worker_message()
    del message["log"]["response"]["responseCreatedAt"]
    assert convert(message).response_created_at == NOW + 250 + 1250
    message = worker_message()
    del message["log"]["response"]["delayMs"]
    assert convert(message).latency == 1250  # from the two times
    message = worker_message()
    message["log"]["response"]["delayMs"] = -1  # Helicone's "unknown"
    assert convert(message).latency == 1250
    message = worker_message()
    for key in ("responseCreatedAt", "delayMs"):
        del message["log"]["response"][key]
    del message["log"]["request"]["requestCreatedAt"]
    record = convert(message)
    assert (record.created_at, record.response_created_at, record.latency) == (NOW, NOW, 0)


def test_loose_scalars_and_nul_characters() -> None:
    message = worker_message()
    message["log"]["request"]["userId"] = 12345
    message["log"]["request"]["properties"] = {
        "tier": 2,
        "beta": True,
        "ratio": 0.5,
        "gone": None,
        "x\x00": "a\x00b",
    }
    record = convert(message)
    assert record.user_id == "12345"
    assert record.properties == {"tier": "2", "beta": "true", "ratio": "0.5", "x": "ab"}


def test_minimal_message_is_enough() -> None:
    record = convert({"log": {"request": {"id": REQUEST_ID}, "response": {"status": 500}}})
    assert record.status == 500
    assert (record.provider, record.model, record.user_id) == ("", "", None)
    assert record.created_at == NOW


def _set(message: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(message)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return changed


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("log", _DELETE, "log"),
        ("log", [], "log"),
        ("log.request", _DELETE, "log.request"),
        ("log.response", "x", "log.response"),
        ("heliconeMeta", "x", "heliconeMeta"),
        ("authorization", 5, "authorization"),
        ("log.request.id", _DELETE, "log.request.id"),
        ("log.request.id", "not-a-uuid", "log.request.id"),
        ("log.request.userId", {"a": 1}, "log.request.userId"),
        ("log.request.properties", ["a"], "log.request.properties"),
        ("log.request.properties", {"env": {"nested": 1}}, "log.request.properties.env"),
        ("log.request.provider", 5, "log.request.provider"),
        ("log.request.isStream", "yes", "log.request.isStream"),
        ("log.request.threat", 1, "log.request.threat"),
        ("log.request.cacheReferenceId", "nope", "log.request.cacheReferenceId"),
        ("log.request.requestCreatedAt", "yesterday", "log.request.requestCreatedAt"),
        ("log.request.requestCreatedAt", True, "log.request.requestCreatedAt"),
        ("log.request.requestCreatedAt", "9" * 30, "log.request.requestCreatedAt"),
        ("log.response.status", _DELETE, "log.response.status"),
        ("log.response.status", "200", "log.response.status"),
        ("log.response.status", 200.5, "log.response.status"),
        ("log.response.status", 1e300, "log.response.status"),
        ("log.response.delayMs", "fast", "log.response.delayMs"),
        ("log.response.delayMs", float("nan"), "log.response.delayMs"),
        ("log.response.timeToFirstToken", [1], "log.response.timeToFirstToken"),
        ("log.response.promptTokens", "12", "log.response.promptTokens"),
        ("log.response.completionTokens", 1 << 60, "log.response.completionTokens"),
        ("log.response.cost", "0.1", "log.response.cost"),
        ("log.response.cost", 1e30, "log.response.cost"),
        ("log.response.model", 4, "log.response.model"),
        ("heliconeMeta.modelOverride", 4, "heliconeMeta.modelOverride"),
        ("heliconeMeta.omitRequestLog", "true", "heliconeMeta.omitRequestLog"),
    ],
)
def test_bad_fields_are_422_naming_the_field(path: str, value: Any, field: str) -> None:
    with pytest.raises(LogMessageError) as caught:
        convert(_set(worker_message(), path, value))
    assert caught.value.status == 422
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize("body", [None, [], "text", 5])
def test_a_body_that_is_not_an_object_is_400(body: Any) -> None:
    with pytest.raises(LogMessageError) as caught:
        convert(body)
    assert caught.value.status == 400


def test_message_authorization() -> None:
    assert message_authorization(worker_message()) == "Bearer sk-heliograph-test"
    assert message_authorization({"authorization": "  "}) is None
    assert message_authorization({}) is None
    assert message_authorization([]) is None
    with pytest.raises(LogMessageError) as caught:
        message_authorization({"authorization": ["Bearer x"]})
    assert caught.value.field == "authorization"
