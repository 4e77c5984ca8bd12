"""Non-ASCII ``Helicone-*`` values (properties, user ids, session names) are stored as the text the client
sent (UTF-8), not as Latin-1 mojibake, and can be filtered on. (Bytes that are not UTF-8, and what the
provider gets, need a raw HTTP client: tests/e2e/test_non_ascii_headers_end_to_end.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from gateway.conftest import wait_for_log
from heliograph.dev.fake_provider import REPLY, FakeProvider

MESSAGES: list[Any] = [{"role": "user", "content": "What is 2+2?"}]
TEXT_HEADERS = {
    "Helicone-Property-Country": "日本",
    "Helicone-User-Id": "山田太郎",
    "Helicone-Session-Id": "séance-1",
    "Helicone-Session-Name": "Café ☕",
}


def utf8_headers(headers: dict[str, str]) -> Any:
    """An httpx request hook that sets ``headers`` as UTF-8: httpx, and so the openai client, encode
    header values as ASCII and refuse anything else (see the test below)."""

    def hook(request: httpx.Request) -> None:
        request.headers.encoding = "utf-8"
        for name, value in headers.items():
            request.headers[name] = value

    return hook


def query(gateway: TestClient, key: str, filter: Any) -> list[dict[str, Any]]:
    response = gateway.post(
        "/v1/request/query-clickhouse", headers={"authorization": f"Bearer {key}"}, json={"filter": filter}
    )
    assert response.status_code == 201, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


def test_the_openai_client_cannot_send_non_ascii_header_values_by_itself(
    gateway: TestClient, key: str
) -> None:
    for value in ("日本", "日本".encode()):
        client = openai.OpenAI(
            base_url="http://testserver/v1/gateway/oai/v1",
            api_key="sk-provider-key",
            http_client=gateway,
            default_headers={"Helicone-Auth": f"Bearer {key}", "Helicone-Property-Country": value},  # type: ignore[dict-item]
            max_retries=0,
        )
        with pytest.raises(UnicodeEncodeError):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_non_ascii_helicone_values_are_stored_as_sent(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    gateway.event_hooks = {"request": [utf8_headers(TEXT_HEADERS)]}
    client = openai.OpenAI(
        base_url="http://testserver/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        http_client=gateway,
        default_headers={"Helicone-Auth": f"Bearer {key}"},
        max_retries=0,
    )
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == REPLY
    gateway.event_hooks = {"request": []}

    log = wait_for_log(gateway, key, raw.headers["helicone-id"])
    assert log["properties"] == {
        "country": "日本",
        "Helicone-Session-Id": "séance-1",
        "Helicone-Session-Name": "Café ☕",
    }
    assert log["request_user_id"] == "山田太郎"
    rows = query(gateway, key, {"properties": {"country": {"equals": "日本"}}})
    assert [row["request_id"] for row in rows] == [raw.headers["helicone-id"]]
    assert rows[0]["request_user_id"] == "山田太郎"
    by_user = query(gateway, key, {"request_response_rmt": {"user_id": {"equals": "山田太郎"}}})
    assert [row["request_id"] for row in by_user] == [raw.headers["helicone-id"]]
