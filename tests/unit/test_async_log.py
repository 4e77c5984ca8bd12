from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from heliograph.ingest.async_log import AsyncLogError, async_log_to_request, validate_typed_async_log
from heliograph.pricing.prices import PriceTable, TokenUsage
from heliograph.records import RequestRecord

PRICES = PriceTable.default()
NOW = 1_700_000_000_000
FRESH_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _fresh_id() -> uuid.UUID:
    return FRESH_ID


def _openai_log() -> dict[str, Any]:
    return {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "user": "body-user"},
            "meta": {},
        },
        "providerResponse": {
            "json": {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "gpt-4o-2024-08-06",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}}],
                "usage": {
                    "prompt_tokens": 2000,
                    "completion_tokens": 100,
                    "prompt_tokens_details": {"cached_tokens": 1024},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            },
            "status": 200,
            "headers": {"content-type": "application/json"},
        },
        "timing": {
            "startTime": {"seconds": 1_700_000_000, "milliseconds": 250},
            "endTime": {"seconds": 1_700_000_001, "milliseconds": 500},
            "timeToFirstToken": 300,
        },
    }


def _convert(
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    new_id: Callable[[], uuid.UUID] = _fresh_id,
) -> RequestRecord:
    return async_log_to_request(
        body, headers or {}, organization_id=7, api_key_id=3, now=NOW, new_id=new_id, prices=PRICES
    )


def _with(path: str, value: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``body`` (default: the OpenAI log) with the dotted ``path`` set, or removed for ...."""
    result = copy.deepcopy(body if body is not None else _openai_log())
    *parents, leaf = path.split(".")
    target = result
    for name in parents:
        target = target[name]
    if value is ...:
        del target[leaf]
    else:
        target[leaf] = value
    return result


def _meta(**meta: str) -> dict[str, Any]:
    return _with("providerRequest.meta", meta)


# --- conversion ---------------------------------------------------------------------------------------


def test_full_openai_log() -> None:
    record = _convert(_openai_log())
    assert record.id == FRESH_ID
    assert (record.organization_id, record.api_key_id, record.source) == (7, 3, "async")
    assert (record.provider, record.path) == ("OPENAI", "async-unknown-path")
    assert record.target_url == "https://api.openai.com/v1/chat/completions"
    assert record.status == 200
    assert (record.created_at, record.response_created_at) == (1_700_000_000_250, 1_700_000_001_500)
    assert (record.latency, record.time_to_first_token) == (1250, 300)
    assert (record.model, record.request_model, record.response_model) == (
        "gpt-4o-2024-08-06",
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert record.model_override is None
    assert (record.prompt_tokens, record.completion_tokens, record.prompt_cache_read_tokens) == (
        2000,
        100,
        1024,
    )
    # gpt-4o-2024-08-06: 976 uncached x $2.5/M + 1024 cached x $0.125/M + 100 x $10/M.
    assert record.cost == 976 * 2500 + 1024 * 125 + 100 * 10_000
    assert record.user_id == "body-user"
    assert record.properties == {}
    assert record.session_id is record.prompt_id is None
    assert json.loads(record.request_body or "") == _openai_log()["providerRequest"]["json"]
    assert json.loads(record.response_body or "") == _openai_log()["providerResponse"]["json"]


def test_anthropic_log_with_cache_tokens_and_cost() -> None:
    body = {
        "providerRequest": {
            "url": "https://api.anthropic.com/v1/messages",
            "json": {"model": "claude-3-5-sonnet-20241022", "max_tokens": 100, "messages": []},
            "meta": {},
        },
        "providerResponse": {
            "json": {
                "type": "message",
                "model": "claude-3-5-sonnet-20241022",
                "content": [{"type": "text", "text": "ok"}],
                "usage": {
                    "input_tokens": 100,
                    "cache_creation_input_tokens": 200,
                    "cache_read_input_tokens": 1000,
                    "output_tokens": 50,
                },
            },
            "status": 200,
            "headers": {},
        },
        "provider": "anthropic",
    }
    record = _convert(body)
    assert record.provider == "ANTHROPIC"
    assert (record.prompt_tokens, record.completion_tokens) == (1300, 50)
    assert (record.prompt_cache_read_tokens, record.prompt_cache_write_tokens) == (1000, 200)
    # $3/M input, $3.75/M cache write, $0.30/M cache read, $15/M output.
    assert record.cost == 100 * 3000 + 200 * 3750 + 1000 * 300 + 50 * 15_000 == 2_100_000
    assert record.cost == PRICES.cost_nanos(
        "ANTHROPIC", "claude-3-5-sonnet-20241022", TokenUsage(1300, 50, 1000, 200)
    )


def test_helicone_headers_from_meta() -> None:
    record = _convert(
        _meta(
            **{
                "Helicone-User-Id": "alice",
                "Helicone-Property-Environment": "prod",
                "Helicone-Property-Feature": "chat\x00bot",
                "Helicone-Session-Id": "sess-1",
                "Helicone-Session-Path": "/parent/child",
                "Helicone-Session-Name": "Support",
                "Helicone-Prompt-Id": "greeting",
                "X-Other": "ignored",
            }
        )
    )
    assert record.user_id == "alice"
    # Names are lower-cased (Helicone's Fetch headers); values lose NUL characters.
    assert record.properties == {
        "environment": "prod",
        "feature": "chatbot",
        "Helicone-Prompt-Id": "greeting",
    }
    assert (record.session_id, record.session_path, record.session_name) == (
        "sess-1",
        "/parent/child",
        "Support",
    )
    assert record.prompt_id == "greeting"


def test_http_headers_win_over_meta_case_insensitively() -> None:
    body = _meta(
        **{"HELICONE-USER-ID": "meta-user", "Helicone-Property-Env": "meta", "helicone-property-kept": "yes"}
    )
    headers = {"helicone-user-id": "http-user", "Helicone-Property-ENV": "http", "Authorization": "Bearer x"}
    record = _convert(body, headers)
    assert record.user_id == "http-user"
    assert record.properties == {"env": "http", "kept": "yes"}


def test_empty_property_name_is_ignored_and_meta_scalars_are_strings() -> None:
    record = _convert(
        _with(
            "providerRequest.meta",
            {"Helicone-Property-": "x", "Helicone-Property-N": 3, "Helicone-Property-Z": None},
        )
    )
    assert record.properties == {"n": "3"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0b8bd1b6-6dd6-4a3f-9f6d-3a3b0a0f1c2e", uuid.UUID("0b8bd1b6-6dd6-4a3f-9f6d-3a3b0a0f1c2e")),
        ("0B8BD1B6-6DD6-4A3F-9F6D-3A3B0A0F1C2E", uuid.UUID("0b8bd1b6-6dd6-4a3f-9f6d-3a3b0a0f1c2e")),
        ("  0b8bd1b6-6dd6-4a3f-9f6d-3a3b0a0f1c2e ", uuid.UUID("0b8bd1b6-6dd6-4a3f-9f6d-3a3b0a0f1c2e")),
        ("not-a-uuid", FRESH_ID),
        ("0b8bd1b66dd64a3f9f6d3a3b0a0f1c2e", FRESH_ID),
        ("00000000-0000-0000-0000-000000000000", FRESH_ID),
        ("", FRESH_ID),
    ],
)
def test_request_id(header: str, expected: uuid.UUID) -> None:
    assert _convert(_meta(**{"Helicone-Request-Id": header})).id == expected
    assert _convert(_openai_log(), {"Helicone-Request-Id": header}).id == expected


def test_user_id_falls_back_to_the_request_body_user() -> None:
    assert _convert(_openai_log()).user_id == "body-user"
    assert _convert(_with("providerRequest.json.user", ...)).user_id is None
    assert _convert(_with("providerRequest.json.user", 42)).user_id is None


def test_model_override_drives_model_and_cost() -> None:
    record = _convert(_openai_log(), {"Helicone-Model-Override": "gpt-4o-mini"})
    assert (record.model, record.model_override, record.response_model) == (
        "gpt-4o-mini",
        "gpt-4o-mini",
        "gpt-4o-2024-08-06",
    )
    assert record.cost == PRICES.cost_nanos("OPENAI", "gpt-4o-mini", TokenUsage(2000, 100, 1024))


@pytest.mark.parametrize(
    ("omit_request", "omit_response"), [("true", None), (None, "true"), ("true", "true"), ("True", "1")]
)
def test_omit_flags(omit_request: str | None, omit_response: str | None) -> None:
    meta = {"Helicone-Omit-Request": omit_request, "Helicone-Omit-Response": omit_response}
    record = _convert(_with("providerRequest.meta", {k: v for k, v in meta.items() if v is not None}))
    full = _convert(_openai_log())
    omitted = '{"model":"gpt-4o-2024-08-06"}'
    assert record.request_body == (omitted if omit_request == "true" else full.request_body)
    assert record.response_body == (omitted if omit_response == "true" else full.response_body)
    # Metrics are kept either way.
    assert (record.prompt_tokens, record.cost) == (full.prompt_tokens, full.cost)


def test_boolean_omit_flag_in_meta() -> None:
    assert (
        _convert(_with("providerRequest.meta", {"Helicone-Omit-Request": True})).request_body
        == '{"model":"gpt-4o-2024-08-06"}'
    )


@pytest.mark.parametrize(
    ("provider", "expected"),
    [(None, "OPENAI"), ("anthropic", "ANTHROPIC"), (" Google ", "GOOGLE"), ("", "OPENAI")],
)
def test_provider(provider: str | None, expected: str) -> None:
    body = _openai_log() if provider is None else _with("provider", provider)
    assert _convert(body).provider == expected


# --- timing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ({"seconds": 1_700_000_000, "milliseconds": 5}, 1_700_000_000_005),
        ({"seconds": 1_700_000_000}, 1_700_000_000_000),
        ({"seconds": 1_700_000_000.5, "milliseconds": 0}, 1_700_000_000_500),
        ("1700000000", 1_700_000_000_000),
        ("1700000000123", 1_700_000_000_123),
        # The boundary: below 4102444800 a digit string is seconds, from it on milliseconds.
        ("4102444799", 4_102_444_799_000),
        ("4102444800", 4_102_444_800),
        (1_700_000_000, 1_700_000_000_000),
        (1_700_000_000_123, 1_700_000_000_123),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20.250+00:00", 1_700_000_000_250),
        ("2023-11-15T00:13:20+02:00", 1_700_000_000_000),
        ("2023-11-14T22:13:20", 1_700_000_000_000),  # naive: UTC
        ("Tue, 14 Nov 2023 22:13:20 GMT", 1_700_000_000_000),
        (None, NOW),
    ],
)
def test_start_time_forms(start: Any, expected: int) -> None:
    body = _with("timing", {"startTime": start, "endTime": str(NOW)})
    assert _convert(body).created_at == expected


def test_absent_timing_means_now() -> None:
    record = _convert(_with("timing", ...))
    assert (record.created_at, record.response_created_at, record.latency, record.time_to_first_token) == (
        NOW,
        NOW,
        0,
        None,
    )


def test_end_before_start_has_no_latency() -> None:
    record = _convert(_with("timing", {"startTime": "1700000010", "endTime": "1700000000"}))
    assert record.latency is None


@pytest.mark.parametrize(
    ("timing", "field"),
    [
        ({"startTime": "yesterday", "endTime": "1700000000"}, "timing.startTime"),
        ({"startTime": "", "endTime": "1700000000"}, "timing.startTime"),
        ({"startTime": "1700000000", "endTime": "9" * 30}, "timing.endTime"),
        ({"startTime": "1700000000", "endTime": "10000-01-01"}, "timing.endTime"),
        ({"startTime": "1969-12-31T00:00:00Z"}, "timing.startTime"),
        ({"startTime": {"seconds": "1700000000"}}, "timing.startTime"),
        ({"startTime": {"milliseconds": 5}}, "timing.startTime"),
        ({"startTime": {"seconds": 10**400}}, "timing.startTime"),
        ({"startTime": float("nan")}, "timing.startTime"),
        ({"startTime": True}, "timing.startTime"),
        ({"startTime": [1]}, "timing.startTime"),
        ({"timeToFirstToken": "12"}, "timing.timeToFirstToken"),
    ],
)
def test_bad_timing_is_422_naming_the_field(timing: dict[str, Any], field: str) -> None:
    with pytest.raises(AsyncLogError) as caught:
        _convert(_with("timing", timing))
    assert caught.value.status == 422
    assert caught.value.errors[0]["field"] == field


# --- bodies and model ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_json", "model"),
    [
        ({"_type": "vector_db", "operation": "search"}, "vector_db"),
        ({"_type": "tool", "toolName": "weather"}, "tool:weather"),
        ({"_type": "data", "name": "customers"}, "data:customers"),
        ({"_type": "vector_db", "model": "from-request"}, "from-request"),
        ({"_type": "other"}, ""),
        ([], ""),
    ],
)
def test_special_type_bodies(request_json: Any, model: str) -> None:
    body = _with("providerRequest.json", request_json)
    body["providerResponse"]["json"] = {"result": "ok"}
    record = _convert(body)
    assert record.model == model
    assert record.cost == 0


def test_text_body_json_is_stored_as_compact_json() -> None:
    # Pretty-printed, as providers answer: the raw newlines must not reach the stored payload, whose
    # parts are separated by newlines.
    text = '{\n  "model": "gpt-4o-mini",\n  "usage": {"prompt_tokens": 3, "completion_tokens": 4}\n}'
    record = _convert(_with("providerResponse.textBody", text, _with("providerResponse.json", ...)))
    assert record.response_body == '{"model":"gpt-4o-mini","usage":{"prompt_tokens":3,"completion_tokens":4}}'
    assert (record.model, record.prompt_tokens, record.completion_tokens) == ("gpt-4o-mini", 3, 4)


def test_text_body_wins_over_json_and_non_json_is_stored_as_a_json_string() -> None:
    stream = (
        'data: {"model":"gpt-4o-mini","choices":[{"delta":{"content":"Hi"}}],"usage":null}\n\n'
        'data: {"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1}}\n\n'
        "data: [DONE]\n\n"
    )
    record = _convert(_with("providerResponse.textBody", stream))
    assert json.loads(record.response_body or "") == stream
    assert (record.model, record.prompt_tokens, record.completion_tokens) == ("gpt-4o-mini", 9, 1)
    assert _convert(_with("providerResponse.textBody", "plain words")).response_body == '"plain words"'


def test_missing_bodies_are_stored_as_empty_objects() -> None:
    body = _with("providerRequest.json", ..., _with("providerResponse.json", ...))
    record = _convert(body)
    assert (record.request_body, record.response_body, record.model) == ("{}", "{}", "")
    assert record.prompt_tokens is None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ([], 400, "body"),
        (_with("providerRequest", ...), 400, "providerRequest"),
        (_with("providerResponse", [1]), 400, "providerResponse"),
        (_with("providerResponse.status", "200"), 422, "providerResponse.status"),
        (_with("providerResponse.status", ...), 422, "providerResponse.status"),
        (_with("providerResponse.status", 200.5), 422, "providerResponse.status"),
        (_with("providerResponse.status", 10**20), 422, "providerResponse.status"),
        (_with("providerRequest.meta", ["x"]), 422, "providerRequest.meta"),
        (
            _with("providerRequest.meta", {"Helicone-User-Id": {"a": 1}}),
            422,
            "providerRequest.meta.Helicone-User-Id",
        ),
        (_with("providerRequest.json", "text"), 422, "providerRequest.json"),
        (_with("providerResponse.json", 5), 422, "providerResponse.json"),
        (_with("providerResponse.textBody", 5), 422, "providerResponse.textBody"),
        (_with("timing", "soon"), 422, "timing"),
        (_with("provider", 1), 422, "provider"),
    ],
)
def test_invalid_bodies(body: Any, status: int, field: str) -> None:
    with pytest.raises(AsyncLogError) as caught:
        _convert(body)
    assert (caught.value.status, caught.value.errors[0]["field"]) == (status, field)


def test_float_status_and_negative_status() -> None:
    assert _convert(_with("providerResponse.status", 200.0)).status == 200
    assert _convert(_with("providerResponse.status", -3)).status == -3


# --- typed validation ---------------------------------------------------------------------------------


def _typed() -> dict[str, Any]:
    body = _openai_log()
    body["timing"] = {"startTime": "1700000000", "endTime": "2023-11-14T22:13:21Z", "timeToFirstToken": 12}
    body["provider"] = "OPENAI"
    return body


def _fields(body: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in validate_typed_async_log(body)}


def test_valid_typed_body() -> None:
    assert validate_typed_async_log(_typed()) == []
    assert validate_typed_async_log(_with("timing", ..., _typed())) == []
    text_only = _with("providerResponse.textBody", "data: x", _with("providerResponse.json", ..., _typed()))
    assert validate_typed_async_log(text_only) == []
    assert _convert(_typed()).created_at == 1_700_000_000_000


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        ("providerRequest.url", "", "providerRequest.url", "url must be a non-empty string"),
        ("providerRequest.url", 5, "providerRequest.url", "url must be a non-empty string"),
        ("providerRequest.json", "x", "providerRequest.json", "json must be an object"),
        ("providerRequest.json", None, "providerRequest.json", "json must be an object"),
        ("providerRequest.meta", [], "providerRequest.meta", "meta must be an object"),
        ("providerResponse.status", "200", "providerResponse.status", "status must be a number"),
        ("providerResponse.headers", None, "providerResponse.headers", "headers must be an object"),
        ("providerResponse.json", None, "providerResponse", "either json or textBody is required"),
        ("timing.startTime", None, "timing.startTime", "startTime is required when timing is provided"),
        ("timing.endTime", None, "timing.endTime", "endTime is required when timing is provided"),
        ("timing.timeToFirstToken", "12", "timing.timeToFirstToken", "timeToFirstToken must be a number"),
        ("timing.timeToFirstToken", None, "timing.timeToFirstToken", "timeToFirstToken must be a number"),
        ("providerRequest", None, "providerRequest", "providerRequest is required"),
        ("providerResponse", None, "providerResponse", "providerResponse is required"),
    ],
)
def test_manual_checks(path: str, value: Any, field: str, message: str) -> None:
    assert _fields(_with(path, value, _typed())) == {field: message}


def test_text_body_must_be_non_empty_without_json() -> None:
    body = _with("providerResponse.textBody", "", _with("providerResponse.json", ..., _typed()))
    assert _fields(body) == {"providerResponse": "either json or textBody is required"}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("providerRequest", "providerRequest"),
        ("providerResponse", "providerResponse"),
        ("providerRequest.url", "providerRequest.url"),
        ("providerRequest.json", "providerRequest.json"),
        ("providerRequest.meta", "providerRequest.meta"),
        ("providerResponse.status", "providerResponse.status"),
        ("providerResponse.headers", "providerResponse.headers"),
        ("timing.startTime", "timing.startTime"),
        ("timing.endTime", "timing.endTime"),
    ],
)
def test_missing_fields_are_reported_with_their_path(path: str, field: str) -> None:
    name = field.rsplit(".", 1)[-1]
    assert _fields(_with(path, ..., _typed())) == {field: f"'{name}' is required"}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("extra", "extra"),
        ("providerRequest.body", "providerRequest.body"),
        ("providerResponse.body", "providerResponse.body"),
        ("timing.duration", "timing.duration"),
    ],
)
def test_extra_fields_are_rejected(path: str, field: str) -> None:
    name = field.rsplit(".", 1)[-1]
    assert _fields(_with(path, 1, _typed())) == {
        field: f'"{name}" is an excess property and therefore is not allowed'
    }


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("provider", 5, "provider"),
        ("timing.startTime", {"seconds": 1, "milliseconds": 0}, "timing.startTime"),
        ("timing.endTime", 1_700_000_000, "timing.endTime"),
        ("timing", "now", "timing"),
        ("providerRequest", "x", "providerRequest"),
        ("providerResponse.json", [1], "providerResponse.json"),
        ("providerResponse.textBody", 1, "providerResponse.textBody"),
        ("providerRequest.meta", {"Helicone-User-Id": 1}, "providerRequest.meta.Helicone-User-Id"),
        ("providerResponse.headers", {"x": None}, "providerResponse.headers.x"),
    ],
)
def test_schema_type_errors(path: str, value: Any, field: str) -> None:
    assert list(_fields(_with(path, value, _typed()))) == [field]


def test_several_errors_are_reported_together() -> None:
    body = {
        "providerRequest": {"url": "", "json": {}, "meta": {}, "x": 1},
        "providerResponse": {"status": "ok", "headers": {}},
    }
    assert _fields(body) == {
        "providerRequest.x": '"x" is an excess property and therefore is not allowed',
        "providerRequest.url": "url must be a non-empty string",
        "providerResponse.status": "status must be a number",
        "providerResponse": "either json or textBody is required",
    }


def test_non_object_typed_body() -> None:
    assert validate_typed_async_log([1]) == [{"field": "body", "message": "body must be an object"}]
