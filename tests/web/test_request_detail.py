"""One request in a real browser: its page (the deep link) and the Requests list's drawer, the
conversation and raw JSON, annotations (property, score, feedback) by a member and refused to a
viewer, logged markup shown as text, and Prev/Next through the list's filter and sort."""

from __future__ import annotations

import re
import time
import uuid
from html import unescape
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import expect

from heliograph.services.errors import InvalidInput
from heliograph.web.conversation import conversation_of
from heliograph.web.request_detail import MAX_RAW_CHARS, parameters, raw_json, score_value
from support.http import auth
from support.ui_data import XSS_PROMPT
from web.conftest import (
    VIEWPORT,
    UiServer,
    create_key,
    create_member,
    csrf_token,
    log_chat_call,
    look,
    page_csrf_token,
    sign_in_with_password,
    ui_client,
)

_ROW_ID = re.compile(r'<tr data-request-id="([0-9a-f-]{36})"')
_NAV = re.compile(r'data-nav="(prev|next)" rel="(?:prev|next)" href="([^"]+)"')


def api_request(ui_server: UiServer, request_id: str) -> dict[str, Any]:
    response = httpx.get(f"{ui_server.url}/v1/request/{request_id}", headers=auth(ui_server.key))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["data"]
    return found


def test_page_shows_the_conversation_and_raw_json(page: Any, ui_server: UiServer) -> None:
    request_id = ui_server.seeded.request_ids[0]
    page.goto(ui_server.ui(f"/requests/{request_id}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(request_id)
    messages = page.locator("article.message")
    expect(messages).to_have_count(3)
    expect(messages.nth(0)).to_contain_text("You are terse.")
    expect(messages.nth(0).get_by_role("heading")).to_have_text("System")
    expect(messages.nth(1)).to_contain_text("Question number 0: what is 2+2?")
    expect(messages.nth(2)).to_contain_text("The answer is 4.")
    expect(messages.nth(2).get_by_role("heading")).to_contain_text("response")
    overview = page.locator("dl.facts").first
    expect(overview).to_contain_text("gpt-4o-mini")
    expect(overview.get_by_role("link", name="alice")).to_have_attribute(
        "href", re.compile(r"/ui/requests\?.*ff=user&fo=equals&fv=alice")
    )
    # Scores the seed gave it: a number and a boolean (stored as 0/1 under "-hcone-bool").
    scores = page.locator("table", has=page.get_by_text("Scores of this request"))
    expect(scores).to_contain_text("accuracy")
    expect(scores.locator("tr", has_text="helpful")).to_contain_text("true")
    raw = page.locator("details.raw-json")
    expect(raw.locator("pre").first).to_be_hidden()
    raw.locator("summary").click()
    expect(raw.locator("pre").first).to_be_visible()
    expect(raw.locator("pre").first).to_contain_text('"content": "You are terse."')
    expect(raw.locator("pre").nth(1)).to_contain_text('"choices"')
    look(page, "request-detail")


def test_anthropic_request_and_trace_link(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui(f"/requests/{ui_server.seeded.request_ids[-1]}"))
    messages = page.locator("article.message")
    expect(messages.nth(0)).to_contain_text("Hello Claude")
    expect(messages.last).to_contain_text("The answer is 4.")
    expect(page.locator("dl.facts").first).to_contain_text("claude-3-5-haiku")
    rows = httpx.post(
        f"{ui_server.url}/v1/request/query-clickhouse",
        json={"filter": "all", "limit": 100},
        headers=auth(ui_server.key),
    ).json()["data"]
    traced = next(row for row in rows if row["trace_id"] == ui_server.seeded.trace_id)
    page.goto(ui_server.ui(f"/requests/{traced['request_id']}"))
    expect(page.get_by_role("link", name=ui_server.seeded.trace_id)).to_have_attribute(
        "href", f"/ui/traces/{ui_server.seeded.trace_id}"
    )
    expect(page.locator("article.message").first).to_contain_text("plan")
    expect(page.locator("article.message").last).to_contain_text("ok")


def test_prompt_link_and_inputs(page: Any, ui_server: UiServer) -> None:
    client = openai.OpenAI(base_url=f"{ui_server.url}/v1/gateway/oai/v1", api_key="sk-test", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "user", "content": 'Hi <helicone-prompt-input key="name">Ada</helicone-prompt-input>'}
        ],
        extra_headers={"Helicone-Auth": f"Bearer {ui_server.key}", "Helicone-Prompt-Id": "detail-greeter"},
    )
    request_id = raw.headers["helicone-id"]
    deadline = time.monotonic() + 30
    while (
        httpx.get(f"{ui_server.url}/v1/request/{request_id}", headers=auth(ui_server.key)).json()["data"]
        is None
    ):
        assert time.monotonic() < deadline, "the request was never logged"
        time.sleep(0.1)  # the gateway logs after answering
    page.goto(ui_server.ui(f"/requests/{request_id}"))
    expect(page.locator("section", has=page.get_by_role("heading", name="Prompt inputs"))).to_contain_text(
        "Ada"
    )
    link = page.locator("dl.facts").first.get_by_role("link", name="detail-greeter")
    expect(link).to_have_attribute("href", re.compile(r"^/ui/prompts/[0-9a-f-]{36}\?version=[0-9a-f-]{36}$"))
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("detail-greeter")


def test_member_adds_a_property_a_score_and_feedback(page: Any, ui_server: UiServer) -> None:
    request_id = ui_server.seeded.request_ids[3]
    page.goto(ui_server.ui(f"/requests/{request_id}?range=7d"))
    page.get_by_label("Key").fill("reviewer")
    page.get_by_label("Value", exact=True).first.fill("<i>grace</i>")
    page.get_by_role("button", name="Add property").click()
    expect(page.get_by_role("status").filter(has_text="Property saved.")).to_be_visible()
    assert "range=7d" in page.url
    properties = page.locator("table", has=page.get_by_text("Custom properties of this request"))
    expect(properties.locator("tr", has_text="reviewer")).to_contain_text("<i>grace</i>")

    page.get_by_label("Name").fill("quality")
    page.locator("#rd-score-value").fill("7")
    page.get_by_role("button", name="Add score").click()
    expect(page.get_by_role("status").filter(has_text="Score saved.")).to_be_visible()
    page.get_by_label("Name").fill("on topic")
    page.locator("#rd-score-value").fill("true")
    page.get_by_role("button", name="Add score").click()
    scores = page.locator("table", has=page.get_by_text("Scores of this request"))
    expect(scores.locator("tr", has_text="quality")).to_contain_text("7")
    expect(scores.locator("tr", has_text="on topic")).to_contain_text("true")

    page.get_by_role("button", name="Thumbs up").click()
    expect(page.get_by_text("Rated good")).to_be_visible()
    expect(page.get_by_role("button", name="Thumbs up")).to_have_attribute("aria-pressed", "true")

    stored = api_request(ui_server, request_id)
    assert stored["properties"]["reviewer"] == "<i>grace</i>"
    assert stored["scores"]["quality"] == 7
    assert stored["scores"]["on topic-hcone-bool"] == 1
    assert stored["scores"]["helicone-score-feedback"] == 1


def test_bad_score_is_a_clear_400(ui_server: UiServer) -> None:
    request_id = ui_server.seeded.request_ids[3]
    with ui_client(ui_server) as client:
        token = csrf_token(client)
        bad = client.post(
            f"/ui/requests/{request_id}/scores",
            data={"name": "x", "value": "2.5", "csrf_token": token},
        )
        assert bad.status_code == 400
        assert "whole number" in bad.text
        unknown = client.post(
            "/ui/requests/00000000-0000-0000-0000-000000000001/feedback",
            data={"rating": "up", "csrf_token": token},
        )
        assert unknown.status_code == 404
        assert client.get("/ui/requests/not-a-uuid").status_code == 400
        assert client.get("/ui/requests/00000000-0000-0000-0000-000000000001").status_code == 404
        assert client.get(f"/ui/requests/{request_id}?sort=nonsense").status_code == 400


def test_viewer_sees_no_controls_and_is_refused(browser: Any, ui_server: UiServer) -> None:
    viewer = create_member(ui_server, "viewer")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in_with_password(page, ui_server, viewer)
        request_id = ui_server.seeded.request_ids[2]
        page.goto(ui_server.ui(f"/requests/{request_id}"))
        expect(page.locator("article.message").first).to_be_visible()
        assert page.locator("form[method=post][action*='/ui/requests/']").count() == 0
        expect(page.get_by_role("button", name="Add property")).to_have_count(0)
        expect(page.get_by_role("button", name="Thumbs up")).to_have_count(0)
        refused = page.request.post(
            ui_server.ui(f"/requests/{request_id}/properties"),
            form={"key": "sneaky", "value": "1", "csrf_token": page_csrf_token(page)},
            headers={"Origin": ui_server.url},
        )
        assert refused.status == 403
        assert "may only read" in refused.text()
        assert "sneaky" not in api_request(ui_server, request_id)["properties"]
    finally:
        context.close()


def test_logged_markup_is_shown_as_text(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui(f"/requests/{ui_server.seeded.xss_request_id}"))
    first = page.locator("article.message").first
    expect(first.locator("pre")).to_have_text(XSS_PROMPT)
    expect(page.locator("table", has=page.get_by_text("Custom properties"))).to_contain_text(
        '<b onmouseover="window.__pwned = 3">bold</b>'
    )
    page.locator("details.raw-json summary").click()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script, main img").count() == 0


def _walk(client: httpx.Client, start: str, params: str, rel: str) -> list[str]:
    """Request ids from ``start``, following the ``rel`` link of each page until there is none."""
    seen = [start]
    while True:
        html = client.get(f"/ui/requests/{seen[-1]}{params}").text
        links = {name: unescape(href) for name, href in _NAV.findall(html)}
        if rel not in links:
            return seen
        target = links[rel]
        if "/step?" in target:
            # Sorted by other than time: the link finds the neighbour when followed.
            stepped = client.get(target)
            assert stepped.status_code == 303
            target = stepped.headers["location"]
            if "notice=" in target:
                return seen
        following = target.split("?")[0].rsplit("/", 1)[1]
        assert following not in seen, "Prev/Next went round in a circle"
        seen.append(following)


@pytest.mark.parametrize(
    "params", ["?range=all", "?range=all&sort=latency&dir=asc", "?range=all&sort=prop:environment&dir=desc"]
)
def test_previous_and_next_walk_the_list_in_its_order(ui_server: UiServer, params: str) -> None:
    with ui_client(ui_server) as client:
        listed = _ROW_ID.findall(client.get(f"/ui/requests{params}&limit=500").text)
        assert len(listed) >= 10
        assert _walk(client, listed[0], params, "next") == listed
        assert _walk(client, listed[-1], params, "prev") == listed[::-1]


def test_drawer_from_the_list_moves_and_closes_with_the_keyboard(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/requests?range=all"))
    rows = page.locator("#rows tr")
    first, second = rows.nth(0).get_attribute("data-request-id"), rows.nth(1).get_attribute("data-request-id")
    rows.nth(0).locator("a.request-link").click()
    drawer = page.locator("#drawer")
    expect(drawer.get_by_role("heading", level=2)).to_contain_text(str(first))
    expect(drawer.locator("article.message").first).to_be_visible()
    expect(page).to_have_url(re.compile(f"/ui/requests/{first}\\?range=all$"))
    look(page, "request-drawer")
    page.keyboard.press("ArrowDown")
    expect(drawer.get_by_role("heading", level=2)).to_contain_text(str(second))
    expect(page).to_have_url(re.compile(f"/ui/requests/{second}\\?range=all$"))
    expect(rows.nth(1)).to_have_attribute("aria-current", "true")
    page.keyboard.press("ArrowUp")
    expect(drawer.get_by_role("heading", level=2)).to_contain_text(str(first))
    # A write from the drawer swaps the drawer, not the page.
    drawer.get_by_role("button", name="Thumbs down").click()
    expect(drawer.get_by_text("Feedback saved.")).to_be_visible()
    expect(drawer.get_by_text("Rated bad")).to_be_visible()
    expect(page).to_have_url(re.compile(f"/ui/requests/{first}\\?range=all$"))
    page.keyboard.press("Escape")
    expect(drawer).to_be_empty()
    expect(page).to_have_url(re.compile(r"/ui/requests\?range=all$"))
    expect(rows.nth(0).locator("a.request-link")).to_be_focused()
    page.keyboard.press("ArrowDown")  # the drawer is closed: nothing opens
    expect(drawer).to_be_empty()


def test_drawer_steps_through_a_sorted_list(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/requests?range=all&sort=latency&dir=asc"))
    rows = page.locator("#rows tr")
    first, second = rows.nth(0).get_attribute("data-request-id"), rows.nth(1).get_attribute("data-request-id")
    rows.nth(0).locator("a.request-link").click()
    drawer = page.locator("#drawer")
    expect(drawer.get_by_role("heading", level=2)).to_contain_text(str(first))
    page.keyboard.press("ArrowDown")
    expect(drawer.get_by_role("heading", level=2)).to_contain_text(str(second))
    expect(page).to_have_url(re.compile(f"/ui/requests/{second}\\?range=all&sort=latency&dir=asc$"))
    page.keyboard.press("ArrowUp")
    expect(drawer.get_by_role("heading", level=2)).to_contain_text(str(first))
    page.keyboard.press("ArrowUp")  # the first of the list: it stays, and says so
    expect(drawer.get_by_text("This is the first request of the list.")).to_be_visible()
    expect(drawer.get_by_role("heading", level=2)).to_contain_text(str(first))


def test_drawer_close_button(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/requests"))
    page.locator("#rows tr").nth(2).locator("a.request-link").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("article.message").first).to_be_visible()
    drawer.get_by_role("button", name="Close").click()
    expect(drawer).to_be_empty()
    expect(page).to_have_url(re.compile(r"/ui/requests(\?|$)"))


def test_page_works_without_javascript(browser: Any, ui_server: UiServer, key_session: Any) -> None:
    context = browser.new_context(
        viewport=VIEWPORT, storage_state=str(key_session), java_script_enabled=False
    )
    page = context.new_page()
    try:
        request_id = ui_server.seeded.session_request_ids[1]
        page.goto(ui_server.ui(f"/requests/{request_id}?range=all&sort=latency&dir=desc"))
        expect(page.locator("article.message").first).to_contain_text("Session step 1")
        expect(page.get_by_role("link", name="session-ui-1")).to_have_attribute(
            "href", "/ui/sessions/session-ui-1"
        )
        page.locator("details.raw-json summary").click()
        expect(page.locator("details.raw-json pre").first).to_be_visible()
        page.get_by_role("link", name="↓ Next").click()  # a step link: the server finds the neighbour
        expect(page.get_by_role("heading", level=1)).not_to_contain_text(request_id)
        assert "sort=latency&dir=desc" in page.url
        page.get_by_label("Key").fill("no-js")
        page.get_by_label("Value", exact=True).first.fill("works")
        page.get_by_role("button", name="Add property").click()
        expect(page.get_by_role("status").filter(has_text="Property saved.")).to_be_visible()
        expect(page.locator("table", has=page.get_by_text("Custom properties"))).to_contain_text("no-js")
    finally:
        context.close()


def test_parameters_raw_json_and_score_values() -> None:
    body = {
        "temperature": 0.2,
        "max_tokens": 50,
        "top_p": 1,
        "seed": 7,
        "stream": True,
        "stop": ["\n"],
        "tools": [{"type": "function", "function": {"name": "lookup"}}, {"name": "zoom"}],
    }
    assert parameters(body) == [
        ("Temperature", "0.2"),
        ("Max tokens", "50"),
        ("Top p", "1"),
        ("Seed", "7"),
        ("Stream", "true"),
        ("Stop", '["\\n"]'),
        ("Tools", "lookup, zoom"),
    ]
    assert parameters({"generationConfig": {"temperature": 1, "maxOutputTokens": 9}}) == [
        ("Temperature", "1"),
        ("Max output tokens", "9"),
    ]
    assert parameters("text") == []
    text, cut = raw_json({"a": "x" * (MAX_RAW_CHARS + 10)})
    assert len(text) == MAX_RAW_CHARS
    assert cut > 10
    assert raw_json("data: {}\n") == ("data: {}\n", 0)
    assert raw_json(None) == ("", 0)
    assert score_value(" 12 ") == 12
    assert score_value("-3") == -3
    assert score_value("TRUE") is True
    assert score_value("4.0") == 4
    for bad in ("2.5", "nan", "inf", "", "yes"):
        with pytest.raises(InvalidInput):
            score_value(bad)


def test_a_body_whose_tool_calls_is_not_a_list_still_shows(ui_server: UiServer) -> None:
    """Review regression: a message whose ``tool_calls`` was not a list (a client's mistake, logged as
    sent) made the request's page, its drawer and its session's conversation a 500."""
    key = create_key(ui_server, organization=f"odd-bodies-{uuid.uuid4().hex[:6]}")
    messages = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "calling a tool", "tool_calls": True},
    ]
    body = {"model": "gpt-4o-mini", "messages": messages}
    assert [message.role for message in conversation_of(body, None)] == ["user", "assistant"]
    request_id = log_chat_call(ui_server, key, body, **{"Helicone-Session-Id": "odd-tool-calls"})
    with ui_client(ui_server, key=key) as client:
        shown = client.get(f"/ui/requests/{request_id}")
        assert shown.status_code == 200, shown.text
        assert "calling a tool" in shown.text
        drawer = {"HX-Request": "true", "HX-Target": "drawer"}
        assert client.get(f"/ui/requests/{request_id}", headers=drawer).status_code == 200
        conversation = client.get("/ui/sessions/odd-tool-calls?view=conversation")
        assert conversation.status_code == 200
        assert "calling a tool" in conversation.text
