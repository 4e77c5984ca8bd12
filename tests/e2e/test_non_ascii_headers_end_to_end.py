"""End to end over TCP: header values as raw bytes reach ``heliograph serve`` (the gateway and the async-log
route), and their text is stored as the client meant it: UTF-8, and Latin-1 only for bytes that are not
UTF-8. Read back through ``/v1/request/query-clickhouse``, filters included."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from heliograph.dev.fake_provider import REPLY, FakeProvider, running_fake_provider
from support.http import auth
from support.server import RunningServer, serve

pytestmark = pytest.mark.e2e

MESSAGES: list[Any] = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as fake:
        yield fake


@pytest.fixture
def server(database_url: str, tmp_path: Path, provider: FakeProvider) -> Iterator[RunningServer]:
    env = {"HELIOGRAPH_PROVIDER_URL_OPENAI": provider.url}
    with serve(database_url, tmp_path / "data", extra_env=env) as running:
        yield running


def raw_post(
    server: RunningServer, path: str, headers: list[tuple[str, bytes]], body: Any
) -> tuple[int, bytes]:
    """POST with header values sent as the given bytes (http.client writes them untouched)."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.putrequest("POST", path)
        data = json.dumps(body).encode()
        for name, value in [
            *headers,
            ("content-type", b"application/json"),
            ("content-length", b"%d" % len(data)),
        ]:
            connection.putheader(name, value)
        connection.endheaders(data)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def query(server: RunningServer, filter: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        response = httpx.post(
            f"{server.url}/v1/request/query-clickhouse", headers=auth(server.key), json={"filter": filter}
        )
        assert response.status_code == 201, response.text
        rows: list[dict[str, Any]] = response.json()["data"]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)  # the gateway's log is written just after the answer


def test_the_gateway_stores_utf8_text_from_the_openai_client(
    server: RunningServer, provider: FakeProvider
) -> None:
    def utf8(request: httpx.Request) -> None:
        # httpx encodes header values as ASCII (the openai client refuses "日本", str or bytes);
        # a request hook can set them as UTF-8.
        request.headers.encoding = "utf-8"
        request.headers["Helicone-Property-Country"] = "日本"
        request.headers["Helicone-User-Id"] = "山田太郎"
        request.headers["Helicone-Session-Name"] = "Café ☕"

    client = openai.OpenAI(
        base_url=f"{server.url}/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        default_headers={"Helicone-Auth": f"Bearer {server.key}"},
        http_client=openai.DefaultHttpxClient(event_hooks={"request": [utf8]}),
    )
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == REPLY

    rows = query(server, {"properties": {"country": {"equals": "日本"}}})
    assert [row["request_id"] for row in rows] == [raw.headers["helicone-id"]]
    assert rows[0]["request_user_id"] == "山田太郎"
    assert rows[0]["properties"] == {"country": "日本", "Helicone-Session-Name": "Café ☕"}


def test_the_gateway_reads_bytes_that_are_not_utf8_as_latin_1_and_forwards_bytes_unchanged(
    server: RunningServer, provider: FakeProvider
) -> None:
    request_id = str(uuid.uuid4())
    headers = [
        ("Helicone-Auth", f"Bearer {server.key}".encode()),
        ("Helicone-Request-Id", request_id.encode()),
        ("Helicone-Property-Place", b"caf\xe9"),  # a Latin-1 client
        ("Helicone-Property-Mixed", "日".encode() + b"\xff"),
        ("x-custom", "日本".encode()),  # not ours: the provider gets the same bytes
    ]
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    status, _ = raw_post(server, "/v1/gateway/oai/v1/chat/completions", headers, body)
    assert status == 200
    # The fake provider's server reads headers as Latin-1: these are the UTF-8 bytes the client sent.
    assert provider.requests[-1].headers["x-custom"] == "日本".encode().decode("latin-1")
    rows = query(server, {"properties": {"place": {"equals": "café"}}})
    assert [row["request_id"] for row in rows] == [request_id]
    assert rows[0]["properties"] == {"place": "café", "mixed": "日ÿ"}


def test_the_async_log_route_stores_utf8_text(server: RunningServer) -> None:
    request_id = str(uuid.uuid4())
    headers = [
        ("authorization", f"Bearer {server.key}".encode()),
        ("Helicone-Request-Id", request_id.encode()),
        ("Helicone-Property-Country", "日本".encode()),
        ("Helicone-User-Id", "山田太郎".encode()),
        ("Helicone-Session-Id", "séance-1".encode()),
        ("Helicone-Session-Name", "Café ☕".encode()),
        ("Helicone-Property-Place", b"caf\xe9"),
    ]
    body = {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o-mini", "messages": MESSAGES},
            "meta": {},
        },
        "providerResponse": {"json": {"model": "gpt-4o-mini"}, "status": 200, "headers": {}},
    }
    status, answer = raw_post(server, "/v1/trace/custom/log", headers, body)
    assert status == 200, answer

    rows = query(server, {"properties": {"country": {"equals": "日本"}}})
    assert [row["request_id"] for row in rows] == [request_id]
    assert rows[0]["request_user_id"] == "山田太郎"
    assert rows[0]["properties"] == {
        "country": "日本",
        "place": "café",
        "Helicone-Session-Id": "séance-1",
        "Helicone-Session-Name": "Café ☕",
    }
    found = query(server, {"request_response_rmt": {"user_id": {"equals": "山田太郎"}}})
    assert [row["request_id"] for row in found] == [request_id]
