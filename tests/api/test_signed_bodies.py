"""``signed_body_url``: an expiring link to a request's bodies, as Helicone's export tools fetch them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.services.signed_urls import SECRET_FILE_NAME, UrlSigner
from heliograph.settings import Settings
from support.http import auth
from support.otlp import export, openllmetry_chat, span
from support.server import serve

BASE_NS = 1_750_000_000_000_000_000  # 2025-06-15T15:06:40Z
NOW_MS = 1_750_000_600_000


class Clock:
    """A clock the test moves, so expiry is tested without waiting."""

    def __init__(self) -> None:
        self.now = NOW_MS

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed_client(settings: Settings, engine: sa.Engine, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=engine, clock=clock)) as client:
        yield client


def _ingest(client: TestClient, key: str, content: str = "How do I reset my password?") -> str:
    attrs = openllmetry_chat(model="gpt-4o-mini", prompt_tokens=24, completion_tokens=11)
    attrs["gen_ai.prompt.0.content"] = content
    response = client.post("/v1/trace/log", json=export(span(attrs, start_ns=BASE_NS)), headers=auth(key))
    assert response.status_code == 200, response.text
    rows = _rows(client, key)
    assert len(rows) == 1
    request_id: str = rows[0]["request_id"]
    return request_id


def _rows(client: TestClient, key: str, path: str = "query-clickhouse") -> list[dict[str, Any]]:
    response = client.post(f"/v1/request/{path}", json={"filter": "all"}, headers=auth(key))
    assert response.status_code == 201, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


def test_every_request_view_links_to_its_bodies(timed_client: TestClient, key: str) -> None:
    request_id = _ingest(timed_client, key)
    views = [
        *_rows(timed_client, key),
        *_rows(timed_client, key, "query"),
        timed_client.get(f"/v1/request/{request_id}", headers=auth(key)).json()["data"],
        *timed_client.post(
            "/v1/request/query-ids", json={"requestIds": [request_id]}, headers=auth(key)
        ).json()["data"],
    ]
    for view in views:
        url = view["signed_body_url"]
        assert url.startswith("http://testserver/v1/signed/request-body/")
        # No key: the link itself is the credential, as with Helicone's presigned URLs.
        fetched = timed_client.get(url)
        assert fetched.status_code == 200, fetched.text
        bodies = fetched.json()
        assert set(bodies) == {"request", "response"}
        assert bodies["request"]["messages"][0]["content"] == "How do I reset my password?"
        assert bodies["response"]["usage"]["completion_tokens"] == 11


def test_links_expire_and_cannot_be_forged(
    timed_client: TestClient, key: str, clock: Clock, settings: Settings
) -> None:
    _ingest(timed_client, key)
    url = _rows(timed_client, key)[0]["signed_body_url"]
    token = url.rsplit("/", 1)[1]
    claims, _, signature = token.partition(".")
    other_signature = UrlSigner(b"another server's secret!", clock=clock).sign("request-body", {}, 60)
    forged = [
        f"{claims}.{other_signature.partition('.')[2]}",  # someone else's signature
        f"{claims[:-2]}AA.{signature}",  # claims changed after signing
        "not-a-token",
        claims,
    ]
    for bad in forged:
        response = timed_client.get(f"/v1/signed/request-body/{bad}")
        assert response.status_code == 403, (bad, response.text)
        assert "fresh signed_body_url" in response.json()["error"]
    clock.now += settings.signed_url_seconds * 1000 - 1000
    assert timed_client.get(url).status_code == 200
    clock.now += 1000
    expired = timed_client.get(url)
    assert expired.status_code == 403
    assert "expired" in expired.json()["error"]


def test_a_link_names_its_organization(timed_client: TestClient, make_key: Any, settings: Settings) -> None:
    first, second = make_key("org-a"), make_key("org-b")
    _ingest(timed_client, first, "organization A's secret")
    _ingest(timed_client, second, "organization B's secret")
    for key, secret in ((first, "A's"), (second, "B's")):
        url = _rows(timed_client, key)[0]["signed_body_url"]
        content = timed_client.get(url).json()["request"]["messages"][0]["content"]
        assert secret in content


def test_the_secret_survives_restarts_and_public_url_is_used(
    database_url: str, engine: sa.Engine, tmp_path: Path, key: str
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", key_cache_seconds=0)
    with TestClient(create_app(settings, db=engine)) as client:
        _ingest(client, key)
        url = _rows(client, key)[0]["signed_body_url"]
    secret_file = tmp_path / "data" / SECRET_FILE_NAME
    assert secret_file.stat().st_mode & 0o777 == 0o600
    with TestClient(create_app(settings, db=engine)) as restarted:
        assert restarted.get(url).status_code == 200
    public = settings.model_copy(update={"public_url": "https://obs.example.com"})
    with TestClient(create_app(public, db=engine)) as proxied:
        assert _rows(proxied, key)[0]["signed_body_url"].startswith(
            "https://obs.example.com/v1/signed/request-body/"
        )


@pytest.mark.e2e
def test_helicone_export_script_flow(database_url: str, tmp_path: Path) -> None:
    """What Helicone's examples/export/python/export.py does, against a real server: page through
    the legacy /v1/request/query with a `request.created_at` leaf in its date format, then fetch
    every signed_body_url with aiohttp and no key."""
    with serve(database_url, tmp_path / "data") as server:
        body = export(
            *(
                span(
                    openllmetry_chat(model="gpt-4o-mini", prompt_tokens=5, completion_tokens=i + 1),
                    start_ns=BASE_NS + i * 60_000_000_000,
                )
                for i in range(3)
            )
        )
        assert (
            httpx.post(f"{server.url}/v1/trace/log", json=body, headers=auth(server.key)).status_code == 200
        )
        request_id = _all(server.url, server.key)[0]["request_id"]
        feedback = httpx.post(
            f"{server.url}/v1/request/{request_id}/feedback", json={"rating": True}, headers=auth(server.key)
        )
        assert feedback.status_code == 201
        rows = _all(server.url, server.key)
        assert len(rows) == 3
        assert [row["completion_tokens"] for row in rows] == [1, 2, 3]  # sort created_at asc
        for row in rows:
            # Fields the script's dataclass requires of every row.
            for field in ("request_feedback", "feedback_rating", "costUSD", "helicone_user", "asset_ids"):
                assert field in row
        assert rows[0]["request_feedback"] == {"rating": True}
        assert rows[1]["request_feedback"] is None
        contents = asyncio.run(_fetch_all([row["signed_body_url"] for row in rows]))
        assert [content["response"]["usage"]["completion_tokens"] for content in contents] == [1, 2, 3]


def _all(url: str, key: str) -> list[dict[str, Any]]:
    time_filter = {
        "left": {"request": {"created_at": {"gte": "2025-06-15 15:00:00"}}},
        "right": {"request": {"created_at": {"lt": "2025-06-15 16:00:00"}}},
        "operator": "and",
    }
    payload = {
        "filter": time_filter,
        "isCached": False,
        "limit": 100,
        "offset": 0,
        "sort": {"created_at": "asc"},
    }
    response = httpx.post(f"{url}/v1/request/query", json=payload, headers=auth(key))
    assert response.status_code == 201, response.text
    assert response.json()["error"] is None
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


async def _fetch_all(urls: list[str]) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:

        async def fetch(url: str) -> dict[str, Any]:
            async with session.get(url) as response:
                assert response.status == 200
                content: dict[str, Any] = await response.json()
                return content

        return await asyncio.gather(*(fetch(url) for url in urls))
