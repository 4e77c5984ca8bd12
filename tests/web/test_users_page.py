"""The Users page in a real browser: the seeded users with their totals (as the User API counts them),
search, sort and paging state in the URL, and each user leading to their requests."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from support.http import auth
from web.conftest import (
    VIEWPORT,
    UiServer,
    create_key,
    log_chat_call,
    look,
    sign_in_with_key,
    ui_client,
)


def _api_users(ui_server: UiServer) -> dict[str, dict[str, Any]]:
    response = httpx.post(
        f"{ui_server.url}/v1/user/metrics/query",
        json={"filter": "all", "offset": 0, "limit": 100},
        headers=auth(ui_server.key),
    )
    assert response.status_code == 200, response.text
    return {row["user_id"]: row for row in response.json()["data"]["users"]}


def _row(page: Any, user: str) -> Any:
    return page.locator("table.user-table tbody tr", has=page.locator("th", has_text=re.compile(f"^{user}$")))


def _latencies_filled(page: Any) -> None:
    """The mean latencies, read after the table is up, have replaced their placeholders."""
    page.wait_for_function(
        "() => ![...document.querySelectorAll('td[id^=latency-]')].some((td) => td.textContent === '…')"
    )


def test_users_appear_with_their_totals(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/users"))
    _latencies_filled(page)
    expected = _api_users(ui_server)
    for user in ("alice", "bob", "carol"):
        cells = _row(page, user).locator("td").all_text_contents()
        assert cells[0] == f"{expected[user]['total_requests']:,}", user
        assert cells[2] == f"{expected[user]['total_prompt_tokens']:,}", user
        assert cells[5].endswith("ms"), user  # the mean latency of the page's users
    assert expected["alice"]["total_requests"] >= 5  # as seeded: two calls, then a session of three
    look(page, "users")


def test_user_link_leads_to_their_requests(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/users?range=24h"))
    _row(page, "bob").get_by_role("link", name="bob").click()
    page.wait_for_url(re.compile(r"/ui/requests\?range=24h&ff=user&fo=equals&fv=bob$"))
    assert page.locator("#fv1").input_value() == "bob"


def test_search_sort_and_state_in_the_url(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/users"))
    page.get_by_label("User id contains").fill("AL")  # ignoring case
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"[?&]q=AL"))
    assert page.locator("table.user-table tbody th").all_text_contents() == ["alice"]
    page.get_by_label("User id contains").fill("")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"[?&]q=&|[?&]q=$"))
    page.locator("#user-results").get_by_role(
        "link", name=re.compile(r"^Requests\W+sort descending$")
    ).click()
    page.wait_for_url(re.compile(r"sort=total_requests&dir=desc"))
    header = page.locator("th[aria-sort]")
    assert header.get_attribute("aria-sort") == "descending"
    assert "Requests" in header.inner_text()
    users = page.locator("table.user-table tbody th").all_text_contents()
    counts = [
        int(text.replace(",", ""))
        for text in page.locator("table.user-table tbody td:nth-child(2)").all_text_contents()
    ]
    assert counts == sorted(counts, reverse=True)
    assert users[0] == "alice"
    # The sort rides along with the next search, and a reload keeps everything.
    page.get_by_label("User id contains").fill("o")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"q=o.*sort=total_requests|sort=total_requests.*q=o"))
    page.reload()
    assert page.locator("table.user-table tbody th").all_text_contents() == ["bob", "carol"]


def test_without_javascript_latencies_are_a_link(browser: Any, key_session: Any, ui_server: UiServer) -> None:
    context = browser.new_context(
        viewport=VIEWPORT, storage_state=str(key_session), java_script_enabled=False
    )
    page = context.new_page()
    page.goto(ui_server.ui("/users?sort=user_id"))
    assert _row(page, "alice").locator("td").nth(5).inner_text() == "…"
    page.get_by_role("link", name="show").click()
    page.wait_for_url(re.compile(r"sort=user_id.*latency=1"))
    assert _row(page, "alice").locator("td").nth(5).inner_text().endswith("ms")
    users = page.locator("table.user-table tbody th").all_text_contents()
    # Sorted by user id, as the link kept it (other tests add users of their own: compare ours).
    seeded = [user for user in users if user in ("alice", "bob", "carol")]
    assert seeded == ["alice", "bob", "carol"]
    context.close()


def test_bad_state_is_a_clear_400(ui_server: UiServer) -> None:
    with ui_client(ui_server) as client:
        for query, message in [
            ("sort=rate_limited_count", "sort must be one of"),
            ("dir=sideways", "dir must be asc or desc"),
            ("page=0", "page"),
            ("page=201", "at most 200"),
            ("range=forever", "range must be one of"),
        ]:
            response = client.get(f"/ui/users?{query}")
            assert response.status_code == 400, query
            assert message in response.text, query
        past = client.get("/ui/users?page=7")
        assert past.status_code == 200
        assert "Page 7 is past the last page" in past.text
        too_many = "&".join(f"u=user-{n}" for n in range(51))
        response = client.get(f"/ui/users/latencies?{too_many}", headers={"HX-Request": "true"})
        assert response.status_code == 400


def test_a_long_user_id_wraps_instead_of_widening_the_page(browser: Any, ui_server: UiServer) -> None:
    """Review regression: a long user id (a row header, which never wrapped) pushed the table past the
    window, and the table's visually hidden sort hints past its scroll box, widening the whole page."""
    key = create_key(ui_server, organization=f"wide-users-{uuid.uuid4().hex[:6]}")
    long_id = "a-very-long-user-id-" * 8
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    request_id = log_chat_call(
        ui_server, key, body, **{"Helicone-User-Id": long_id, "Helicone-Property-" + "k" * 60: "v"}
    )
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in_with_key(page, ui_server, key)
        for path in ("/users", f"/requests/{request_id}"):
            page.goto(ui_server.ui(path))
            expect(page.get_by_text(long_id[:40]).first).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"], path
        # On the request's page, the long property key stays within its column.
        facts = page.locator(
            ".detail-section", has=page.get_by_role("heading", name="Properties", exact=True)
        )
        section, table = facts.bounding_box(), facts.locator("table").bounding_box()
        assert section is not None
        assert table is not None
        assert table["x"] + table["width"] <= section["x"] + section["width"] + 1
    finally:
        context.close()
