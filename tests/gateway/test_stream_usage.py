"""Streams through the gateway are what the provider would have sent the client, although the gateway
asks OpenAI-style providers for usage on the client's behalf (so that the log is exact): the usage chunk
it asked for is read for the log and not forwarded, live, from the cache, after retries and fallbacks."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.conftest import wait_for_log
from heliograph.dev.fake_provider import REPLY, USAGE, FakeProvider
from heliograph.pricing.prices import PriceTable, TokenUsage

CHAT = "/v1/gateway/oai/v1/chat/completions"
MESSAGES: list[Any] = [{"role": "user", "content": "What is 2+2?"}]
STREAM = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
FAST_RETRY = {"Helicone-Retry-Min-Timeout": "1", "Helicone-Retry-Max-Timeout": "5"}
# How the provider's bytes reach the gateway: an event per read, events split across reads (7-byte
# pieces), and the whole stream in one read (the usage chunk together with ``data: [DONE]``).
DELIVERIES = {
    "event-per-read": {},
    "split-across-reads": {"x-fake-split-bytes": "7", "x-fake-chunk-delay-ms": "1"},
    "one-read": {"x-fake-one-write": "1"},
    "content-length": {"x-fake-sized": "1"},
}


def helicone(key: str, **headers: str) -> dict[str, str]:
    return {"Helicone-Auth": f"Bearer {key}", **headers}


def openai_client(gateway: TestClient, key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://testserver/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        http_client=gateway,
        # The SDK closes a stream at ``data: [DONE]``, which in-process cancels the call if the provider's
        # end of the body is still on its way; a sized body ends with its last event (over TCP the
        # gateway waits for that end: tests/e2e).
        default_headers=helicone(key, **{"x-fake-sized": "1"}),
        max_retries=0,
    )


def direct(provider: FakeProvider, body: dict[str, Any], **headers: str) -> bytes:
    """What the provider itself answers ``body`` with."""
    response = httpx.post(f"{provider.v1}/chat/completions", json=body, headers=headers, timeout=10)
    assert response.status_code == 200
    return response.content


def through_gateway(gateway: TestClient, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    response = gateway.post(CHAT, headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response


def events(raw: bytes) -> list[Any]:
    lines = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    return [line.decode() if line == b"[DONE]" else orjson.loads(line) for line in lines]


def assert_exact_usage(gateway: TestClient, key: str, request_id: str, *, cached: bool = False) -> None:
    log = wait_for_log(gateway, key, request_id)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (
        USAGE["prompt_tokens"],
        USAGE["completion_tokens"],
    )
    assert log["tokens_estimated"] is False
    usage = TokenUsage(prompt_tokens=USAGE["prompt_tokens"], completion_tokens=USAGE["completion_tokens"])
    price = PriceTable.default().cost_nanos("OPENAI", "gpt-4o-mini", usage) / 1e9
    assert log["cost"] == (0 if cached else pytest.approx(price))
    # The log keeps the provider's own stream, usage chunk included.
    assert any(e.get("usage") == USAGE for e in events(log["response_body"].encode()) if isinstance(e, dict))


def test_openais_documented_stream_loop_works_through_the_gateway(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    client = openai_client(gateway, key)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    printed: list[str] = []
    # OpenAI's streaming example, verbatim but for print(): an empty `choices` raises IndexError here.
    for chunk in raw.parse():
        printed.append(chunk.choices[0].delta.content or "")
    assert "".join(printed).strip() == REPLY
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}
    assert_exact_usage(gateway, key, raw.headers["helicone-id"])


@pytest.mark.parametrize("delivery", DELIVERIES.values(), ids=DELIVERIES.keys())
def test_the_client_gets_the_providers_bytes_for_its_own_body(
    gateway: TestClient, key: str, provider: FakeProvider, delivery: dict[str, str]
) -> None:
    response = through_gateway(gateway, helicone(key, **delivery), STREAM)
    sent = provider.requests[-1]
    assert sent.body == {**STREAM, "stream_options": {"include_usage": True}}
    # Asked uncompressed: the usage chunk cannot be taken out of a compressed stream.
    assert sent.headers["accept-encoding"] == "identity"
    assert response.content == direct(provider, STREAM)  # the provider's answer to what the client sent
    assert int(response.headers.get("content-length", len(response.content))) == len(response.content)
    assert_exact_usage(gateway, key, response.headers["helicone-id"])


def test_a_client_that_asks_for_usage_gets_the_chunk_unchanged(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    body = {**STREAM, "stream_options": {"include_usage": True}}
    response = through_gateway(gateway, helicone(key, **{"accept-encoding": "gzip"}), body)
    assert provider.requests[-1].headers["accept-encoding"] == "gzip"  # nothing to take out: as sent
    assert response.content == direct(provider, body)
    assert events(response.content)[-2] == {**events(response.content)[-2], "choices": [], "usage": USAGE}
    assert_exact_usage(gateway, key, response.headers["helicone-id"])

    client = openai_client(gateway, key)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == USAGE["total_tokens"]


def test_a_client_that_opts_out_of_usage_gets_no_usage_chunk_and_an_exact_log(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    """``include_usage: false`` is what the client gets, not what the gateway asks: it still asks (and
    takes the chunk out), so the log is exact instead of estimated. Only Helicone-Stream-Usage: false
    keeps it from asking (test_proxy_headers.py)."""
    client = openai_client(gateway, key)
    opt_out = {"include_usage": False}
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=opt_out
    ) as response:
        request_id = response.headers["helicone-id"]
        chunks = list(response.parse())
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks).strip() == REPLY
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    assert_exact_usage(gateway, key, request_id)

    # Other stream options are kept; the bytes are the provider's answer to the client's own body.
    body = {**STREAM, "stream_options": {**opt_out, "include_obfuscation": False}}
    raw = through_gateway(gateway, helicone(key), body)
    assert provider.requests[-1].body["stream_options"] == {
        "include_usage": True,
        "include_obfuscation": False,
    }
    assert raw.content == direct(provider, body)
    assert_exact_usage(gateway, key, raw.headers["helicone-id"])


def test_include_usage_null_is_an_opt_out_and_other_values_are_the_providers_to_judge(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    unset = {**STREAM, "stream_options": {"include_usage": None}}
    response = through_gateway(gateway, helicone(key), unset)
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}
    assert response.content == direct(provider, unset)
    odd = {**STREAM, "stream_options": {"include_usage": "no"}}
    through_gateway(gateway, helicone(key), odd)
    assert provider.requests[-1].body == odd  # forwarded as sent: OpenAI answers it with a 400


def test_a_cache_hit_replays_the_stream_as_the_live_answer(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    headers = helicone(key, **{"Helicone-Cache-Enabled": "true"})
    live = through_gateway(gateway, headers, STREAM)
    assert live.headers["helicone-cache"] == "MISS"
    assert_exact_usage(gateway, key, live.headers["helicone-id"])  # saved once the stream has ended
    for _ in range(50):  # the save runs after the answer; wait for it
        hit = through_gateway(gateway, headers, STREAM)
        if hit.headers["helicone-cache"] == "HIT":
            break
    assert hit.headers["helicone-cache"] == "HIT"
    assert hit.content == live.content == direct(provider, STREAM)
    assert_exact_usage(gateway, key, hit.headers["helicone-id"], cached=True)

    # The openai client's own calls (another cache key): the documented loop, live and replayed.
    client = openai_client(gateway, key)
    seen = []
    while "HIT" not in seen and len(seen) < 50:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            extra_headers={"Helicone-Cache-Enabled": "true"},
        )
        seen.append(raw.headers["helicone-cache"])
        assert "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse()).strip() == REPLY
    assert (seen[0], seen[-1]) == ("MISS", "HIT"), seen


def test_after_retries_the_stream_is_the_providers(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    retry = {"Helicone-Retry-Enabled": "true", "x-fake-fail-times": "2", "x-fake-key": "stream", **FAST_RETRY}
    response = through_gateway(gateway, helicone(key, **retry), STREAM)
    assert len(provider.requests) == 3
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}
    assert response.content == direct(provider, STREAM)
    assert_exact_usage(gateway, key, response.headers["helicone-id"])


def test_after_a_fallback_the_stream_is_the_providers(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    failing = {"target-url": provider.url, "headers": {"x-fake-status": "503"}, "onCodes": [503]}
    working = {"target-url": provider.url, "headers": {}, "onCodes": [503]}
    # An entry may ask for usage itself (bodyKeyOverride): then its client gets the chunk, as sent.
    asking = {**working, "bodyKeyOverride": {"stream_options": {"include_usage": True}}}
    for last, with_usage in ((working, False), (asking, True)):
        fallbacks = orjson.dumps([failing, last]).decode()
        response = through_gateway(gateway, helicone(key, **{"Helicone-Fallbacks": fallbacks}), STREAM)
        assert response.headers["helicone-fallback-index"] == "1"
        assert provider.requests[-1].body["stream_options"] == {"include_usage": True}
        expected = {**STREAM, "stream_options": {"include_usage": True}} if with_usage else STREAM
        assert response.content == direct(provider, expected)
        assert_exact_usage(gateway, key, response.headers["helicone-id"])
