"""The Webhooks pages over HTTP on both databases: a reader sees the list and a webhook's log but no
write controls and cannot write; a writer's bad input comes back as the form with its error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.settings import Settings

from .support import Receiver, add_webhook, call

ORIGIN = "http://testserver"


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    """Served at the test client's own http:// origin (the session cookies are not Secure)."""
    plain = settings.model_copy(update={"public_url": None})
    with TestClient(create_app(plain, db=engine)) as test_client:
        yield test_client


def _sign_in(client: TestClient, key: str) -> str:
    """Sign ``client`` in with ``key`` through the form; the session's CSRF token."""
    client.get("/ui/sign-in")
    token = client.cookies.get("heliograph_csrf") or ""
    answer = client.post(
        "/ui/sign-in",
        data={"csrf_token": token, "api_key": key},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client.cookies.get("heliograph_csrf") or token


def test_a_reader_sees_but_cannot_change(client: TestClient, make_key: Any, receiver: Receiver) -> None:
    writer, reader = make_key("acme", "rw"), make_key("acme", "r")
    webhook_id = add_webhook(client, writer, receiver.url)
    call(client, writer, "POST", f"/v1/webhooks/{webhook_id}/test")
    token = _sign_in(client, reader)

    listed = client.get("/ui/webhooks")
    assert listed.status_code == 200
    assert receiver.url in listed.text
    assert "200 delivered" in listed.text
    assert "Add a webhook" not in listed.text
    page = client.get(f"/ui/webhooks/{webhook_id}")
    assert page.status_code == 200
    assert "test payload" in page.text
    assert "Send test" not in page.text
    assert call(client, writer, "GET", "/v1/webhooks")[0]["hmac_key"] not in page.text

    refused = client.post(
        f"/ui/webhooks/{webhook_id}/delete", data={"csrf_token": token}, headers={"Origin": ORIGIN}
    )
    assert refused.status_code == 403
    assert len(call(client, writer, "GET", "/v1/webhooks")) == 1


def test_bad_input_shows_the_form_with_its_error(client: TestClient, key: str) -> None:
    token = _sign_in(client, key)
    data = {"csrf_token": token, "destination": "https://example.com/h", "sample_rate": "150", "filters": ""}
    answer = client.post("/ui/webhooks", data=data, headers={"Origin": ORIGIN})
    assert answer.status_code == 400
    assert "sample rate must be a number from 0 to 100" in answer.text
    assert 'value="https://example.com/h"' in answer.text
    assert call(client, key, "GET", "/v1/webhooks") == []
    unknown = client.get("/ui/webhooks/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    assert client.get("/ui/webhooks/not-an-id").status_code == 404
