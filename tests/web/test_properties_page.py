"""The Properties page in a real browser: the keys, a key's top values (as the Property API counts
them) linking to their requests, hiding and restoring a key, and a viewer who may do neither."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from support.http import auth
from web.conftest import (
    VIEWPORT,
    UiServer,
    create_member,
    csrf_token,
    look,
    sign_in_with_password,
    ui_client,
)

HIDDEN_KEY = "link"  # the seeded request's hostile property, which no other page test filters by


def _api(ui_server: UiServer, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{ui_server.url}{path}", json=body, headers=auth(ui_server.key))
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _api_keys(ui_server: UiServer) -> list[str]:
    return [item["property"] for item in _api(ui_server, "/v1/property/query", {})]


def _values(page: Any, caption: str) -> dict[str, str]:
    table = page.locator("table", has=page.locator("caption", has_text=caption))
    rows = table.locator("tbody tr").all()
    return {row.locator("th").inner_text(): row.locator("td").inner_text() for row in rows}


def test_keys_and_a_keys_top_values(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/properties"))
    keys = page.locator(".property-keys ul").first.get_by_role("link").all_text_contents()
    assert keys == _api_keys(ui_server)
    assert "environment" in keys
    page.get_by_role("link", name="environment", exact=True).click()
    page.wait_for_url(re.compile(r"key=environment"))
    now = datetime.now(UTC)
    window = {"timeFilter": {"start": (now - timedelta(days=7)).isoformat(), "end": now.isoformat()}}
    counts = _api(ui_server, "/v1/property/environment/top-requests/query", window)
    assert _values(page, "Top values by requests") == {row["value"]: f"{row['count']:,}" for row in counts}
    assert {row["value"] for row in counts} == {"prod", "staging"}
    costs = _api(ui_server, "/v1/property/environment/top-costs/query", window)
    shown = _values(page, "Top values by cost")
    assert list(shown) == [row["value"] for row in costs]
    assert page.locator("#chart-property canvas").count() >= 1
    look(page, "properties")
    page.locator(".property-values").first.get_by_role("link", name="prod", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/requests\?range=7d&ff=prop%3Aenvironment&fo=equals&fv=prod$"))
    assert page.locator("#fv1").input_value() == "prod"


def test_hide_and_restore_a_key(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/properties?range=24h&key=environment"))
    try:
        page.get_by_role("button", name=f"Hide {HIDDEN_KEY}").click()
        page.wait_for_url(re.compile(r"/ui/properties\?range=24h&key=environment$"))
        hidden = page.locator("ul[aria-labelledby=hidden-title]")
        assert hidden.get_by_role("link", name=HIDDEN_KEY, exact=True).is_visible()
        assert HIDDEN_KEY not in _api_keys(ui_server)
        assert page.get_by_role("button", name=f"Hide {HIDDEN_KEY}").count() == 0
        # The chosen key's values are still there after the round trip.
        assert "prod" in _values(page, "Top values by requests")
        page.get_by_role("button", name=f"Restore {HIDDEN_KEY}").click()
        page.wait_for_url(re.compile(r"/ui/properties\?range=24h&key=environment$"))
        assert page.get_by_role("button", name=f"Hide {HIDDEN_KEY}").is_visible()
        assert page.locator("#hidden-title").count() == 0
        assert HIDDEN_KEY in _api_keys(ui_server)
    finally:
        httpx.post(
            f"{ui_server.url}/v1/property/restore", json={"key": HIDDEN_KEY}, headers=auth(ui_server.key)
        )


def test_a_viewer_sees_no_buttons_and_is_refused(browser: Any, ui_server: UiServer) -> None:
    viewer = create_member(ui_server, "viewer")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    sign_in_with_password(page, ui_server, viewer, next_path="/ui/properties")
    assert page.get_by_role("link", name="environment", exact=True).is_visible()
    assert page.locator(".property-keys button, .property-keys form").count() == 0
    context.close()
    with ui_client(ui_server, member=viewer) as client:
        refused = client.post(
            "/ui/properties/hide", data={"key": "environment", "csrf_token": csrf_token(client)}
        )
        assert refused.status_code == 403
        assert "may only read" in refused.text
    assert "environment" in _api_keys(ui_server)
