"""The Sessions pages in a real browser: the list (search, sort, pages) and a session's tree by
``Helicone-Session-Path``, timeline and conversation views, over the session the gateway logged in
``support/ui_data.py``."""

from __future__ import annotations

import os
import re
import time
from typing import Any
from urllib.parse import quote

import httpx

from support.http import auth
from support.ui_data import SESSION_ID, SESSION_NAME
from web.conftest import VIEWPORT, UiServer, look


def _session_row(page: Any) -> Any:
    return page.locator("table.sessions tbody tr", has=page.get_by_role("link", name=SESSION_ID))


def test_the_list_shows_the_seeded_session(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/sessions"))
    row = _session_row(page)
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == SESSION_NAME
    assert cells[1] == SESSION_ID
    assert cells[2] == "3"  # requests
    assert cells[3].startswith("$")
    assert int(cells[4].replace(",", "")) > 0
    assert cells[-1] == "0"  # errors
    assert page.get_by_role("table", name=re.compile("Sessions, last 24 hours")).count() == 1
    look(page, "sessions")


def test_search_sort_and_bad_parameters(page: Any, ui_server: UiServer, errors: Any) -> None:
    page.goto(ui_server.ui("/sessions"))
    page.get_by_label("Search name or id").fill("trip")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"q=trip"))
    assert _session_row(page).count() == 1
    page.get_by_label("Search name or id").fill("no such session anywhere")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"q=no"))
    page.get_by_text("No sessions match").wait_for()

    page.goto(ui_server.ui("/sessions"))
    page.get_by_role("link", name="Cost").click()
    page.wait_for_url(re.compile(r"sort=cost"))
    header = page.get_by_role("columnheader", name=re.compile("Cost"))
    assert header.get_attribute("aria-sort") == "descending"
    assert _session_row(page).count() == 1
    page.get_by_role("link", name=re.compile("Cost")).click()
    page.wait_for_url(re.compile(r"dir=asc"))
    assert page.get_by_role("columnheader", name=re.compile("Cost")).get_attribute("aria-sort") == "ascending"

    assert page.goto(ui_server.ui("/sessions?sort=nope")).status == 400
    assert page.goto(ui_server.ui("/sessions?page=0")).status == 400
    assert page.goto(ui_server.ui("/sessions?range=forever")).status == 400
    assert page.goto(ui_server.ui("/sessions/no-such-session")).status == 404
    assert page.goto(ui_server.ui(f"/sessions/{SESSION_ID}?view=graph")).status == 400
    errors.messages.clear()  # the browser logs each 4xx answer as a failed load


def test_the_tree_nests_paths(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/sessions"))
    _session_row(page).get_by_role("link", name=SESSION_ID).click()
    page.wait_for_url(re.compile(rf"/ui/sessions/{SESSION_ID}$"))
    assert SESSION_NAME in page.get_by_role("heading", level=1).inner_text()
    assert page.locator(".cards").get_by_text("3", exact=True).count() == 1
    plan = page.locator(
        ".waterfall > .wf-node", has=page.locator(".wf-group .wf-name", has_text=re.compile("^/plan$"))
    )
    assert plan.count() == 1
    nested = plan.locator(".wf-children .wf-group .wf-name").all_inner_texts()
    assert nested == ["/plan/flights", "/plan/hotels"]
    # Each request links to its page.
    links = page.locator(".waterfall a.wf-name")
    assert links.count() == 3
    hrefs = {link.get_attribute("href") for link in links.all()}
    assert hrefs == {f"/ui/requests/{request_id}" for request_id in ui_server.seeded.session_request_ids}
    assert page.locator("[style]").count() == 0
    look(page, "session")


def test_timeline_and_conversation_views(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui(f"/sessions/{SESSION_ID}"))
    page.get_by_role("link", name="Timeline").click()
    page.wait_for_url(re.compile(r"view=timeline"))
    names = page.locator(".waterfall a.wf-name").all_inner_texts()
    assert names == ["/plan", "/plan/flights", "/plan/hotels"]  # in start order
    assert page.locator(".waterfall .wf-bar rect").count() == 3
    assert page.get_by_role("link", name="Timeline").get_attribute("aria-current") == "page"
    look(page, "session-timeline")

    page.get_by_role("link", name="Conversation").click()
    page.wait_for_url(re.compile(r"view=conversation"))
    sections = page.locator(".conversation-request")
    assert sections.count() == 3
    for step in range(3):
        assert f"Session step {step}" in sections.nth(step).inner_text()
    look(page, "session-conversation")


def test_a_session_id_with_a_slash_and_no_javascript(
    browser: Any, key_session: Any, ui_server: UiServer
) -> None:
    context = browser.new_context(
        viewport=VIEWPORT, storage_state=str(key_session), java_script_enabled=False
    )
    page = context.new_page()
    try:
        page.goto(ui_server.ui("/sessions?sort=requests"))
        _session_row(page).get_by_role("link", name=SESSION_ID).click()
        page.get_by_role("link", name="Conversation").click()
        page.wait_for_url(re.compile(r"view=conversation"))
        assert page.locator(".conversation-request").count() == 3
        # An id holding "/" still names one session (the link escapes it, the route takes it whole).
        response = page.goto(ui_server.ui("/sessions/" + quote("a/b", safe="")))
        assert response is not None
        assert response.status == 404
        assert "'a/b'" in page.locator("#main").inner_text()
    finally:
        context.close()


def _log(ui_server: UiServer, session_id: str, index: int, started: float) -> None:
    """One call logged without the gateway (Helicone's async log), in the session at ``/big``."""
    start = started + index * 0.5
    body = {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"step {index}"}]},
            "meta": {"Helicone-Session-Id": session_id, "Helicone-Session-Path": "/big"},
        },
        "providerResponse": {"json": {"choices": []}, "status": 200, "headers": {}},
        "timing": {
            "startTime": {"seconds": int(start), "milliseconds": 0},
            "endTime": {"seconds": int(start), "milliseconds": 400},
        },
    }
    response = httpx.post(f"{ui_server.url}/custom/v1/log", json=body, headers=auth(ui_server.key))
    assert response.status_code == 200, response.text


def test_a_big_session_shows_a_page_and_loads_more(page: Any, ui_server: UiServer) -> None:
    session_id = f"big-{os.urandom(4).hex()}"
    started = time.time() - 3600
    for index in range(230):
        _log(ui_server, session_id, index, started)
    page.goto(ui_server.ui(f"/sessions/{session_id}"))
    nodes = page.locator(".waterfall .wf-node")
    # The /big group and its first 100 requests of this page's 200; the rest behind one control.
    assert nodes.count() == 101
    page.get_by_role("link", name="Show 100 more requests").click()
    page.locator(".waterfall a.wf-name").nth(199).wait_for()
    assert nodes.count() == 201
    assert page.locator(".wf-more").count() == 0
    # The next page holds the last 30 requests.
    page.get_by_role("link", name="Next requests").click()
    page.wait_for_url(re.compile(r"cursor="))
    assert nodes.count() == 31
    page.get_by_role("link", name="Timeline").click()
    page.wait_for_url(re.compile(r"view=timeline"))
    assert page.locator(".waterfall a.wf-name").count() == 200
