"""The Settings page's retention field and the erasure pages in Chromium, against a real server: an
admin saves retention periods (the API shows them), and erases a user's requests after reviewing the
count and confirming a second time; a mistyped confirmation deletes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from support.http import auth
from web import test_settings_page as settings_tests
from web.conftest import PageErrors, UiServer, log_chat_call, look

# The admin fixtures of the Settings page's tests (a member signed in through a one-time link).
admin_email = settings_tests.admin_email
admin_state = settings_tests.admin_state
admin_page = settings_tests.admin_page

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "erase me"}]}


def _count(ui_server: UiServer, user: str) -> int:
    node = {"request_response_rmt": {"user_id": {"equals": user}}}
    answer = httpx.post(
        f"{ui_server.url}/v1/request/count/query",
        json={"filter": node},
        headers=auth(ui_server.key),
        timeout=10,
    )
    return int(answer.json()["data"])


def test_an_admin_sets_retention_on_the_settings_page(
    admin_page: Any, ui_server: UiServer, errors: PageErrors
) -> None:
    page = admin_page
    page.goto(ui_server.ui("/settings"))
    section = page.locator("section", has=page.get_by_role("heading", name="Data retention"))
    assert "forever" in section.inner_text()
    # Long periods: the shared server's seeded data (logged today) stays.
    page.get_by_label("Keep requests (days)").fill("3650")
    page.get_by_label("Keep bodies (days)").fill("365")
    page.get_by_role("button", name="Save retention").click()
    page.get_by_text("The retention periods were saved").wait_for()
    shown = httpx.get(f"{ui_server.url}/v1/retention", headers=auth(ui_server.key), timeout=10).json()["data"]
    assert (shown["requestDays"], shown["bodyDays"], shown["custom"]) == (3650, 365, True)
    look(page, "settings-retention")

    page.get_by_label("Keep bodies (days)").fill("5000")
    page.get_by_role("button", name="Save retention").click()
    page.get_by_role("alert").wait_for()
    assert "bodyDays" in page.get_by_role("alert").inner_text()
    errors.messages.clear()  # the refused form's 400, expected
    page.get_by_role("button", name="Use server defaults").click()
    page.get_by_text("The retention periods were saved").wait_for()
    shown = httpx.get(f"{ui_server.url}/v1/retention", headers=auth(ui_server.key), timeout=10).json()["data"]
    assert shown["custom"] is False


def test_an_admin_erases_a_user_after_confirming_twice(
    admin_page: Any, ui_server: UiServer, errors: PageErrors
) -> None:
    user = f"erase-{uuid.uuid4().hex[:6]}"
    ids = [log_chat_call(ui_server, ui_server.key, CHAT, **{"Helicone-User-Id": user}) for _ in range(2)]
    assert _count(ui_server, user) == 2
    page = admin_page
    # From a request of the user: the erasure form comes filled in.
    page.goto(ui_server.ui(f"/requests/{ids[0]}"))
    page.get_by_role("link", name="Erase all of this user's data…").click()
    page.wait_for_url("**/ui/data/delete?**")
    assert page.get_by_label("Erase by").input_value() == "user"
    assert page.get_by_label("Id").input_value() == user
    page.get_by_role("button", name="Review…").click()
    page.get_by_role("heading", name="Are you sure?").wait_for()
    assert "2 request(s)" in page.locator("main").inner_text()
    look(page, "erase-confirm")

    # The second confirmation: a mistyped word deletes nothing.
    page.get_by_label("Type erase to confirm").fill("yes")
    page.get_by_role("button", name="Yes, erase 2 request(s) permanently").click()
    page.get_by_role("alert").wait_for()
    assert _count(ui_server, user) == 2
    errors.messages.clear()  # the refused confirmation's 400, expected

    page.get_by_label("Type erase to confirm").fill("erase")
    page.get_by_role("button", name="Yes, erase 2 request(s) permanently").click()
    page.get_by_text("Erased 2 request(s)").wait_for()
    assert _count(ui_server, user) == 0
    look(page, "erase-done")
