"""The trace page in a real browser: the seeded OTLP trace's tree, a span's attributes and events loaded
on demand, and traces of 10,000 spans (a chain and a fan) that show a bounded part and load the rest
when asked. Sizes are checked by counting DOM elements, never by timing."""

from __future__ import annotations

import os
import re
from typing import Any

import httpx

from support.http import auth
from support.otlp import export, openllmetry_chat, span
from web.conftest import VIEWPORT, UiServer, look

T0 = 1_750_000_000_000_000_000
BIG = 10_000
# The page shows at most 200 spans; each row is about fifteen elements, the page around them ~150.
MOST_ELEMENTS = 4000


def _ingest(ui_server: UiServer, spans: list[dict[str, Any]]) -> None:
    for start in range(0, len(spans), 2500):
        response = httpx.post(
            f"{ui_server.url}/v1/traces",
            json=export(*spans[start : start + 2500], service="big-app"),
            headers=auth(ui_server.key),
            timeout=60,
        )
        assert response.status_code == 200, response.text


def _ids(count: int) -> list[str]:
    return [f"{index + 1:016x}" for index in range(count)]


def _elements(page: Any) -> int:
    count: int = page.evaluate("document.getElementsByTagName('*').length")
    return count


def _rows(page: Any) -> Any:
    return page.locator(".waterfall .wf-node")


def _summary(page: Any, name: str) -> Any:
    """The row of the span named exactly ``name``."""
    return page.locator("summary", has=page.locator(".wf-name", has_text=re.compile(f"^{re.escape(name)}$")))


def test_seeded_trace_shows_its_tree_error_and_event(page: Any, ui_server: UiServer) -> None:
    trace_id = ui_server.seeded.trace_id
    page.goto(ui_server.ui(f"/traces/{trace_id}"))
    assert page.get_by_role("heading", level=1).inner_text() == "Trace agent run"
    assert _rows(page).count() == 3
    names = page.locator(".wf-name").all_inner_texts()
    assert names == ["agent run", "chat gpt-4o", "tool lookup"]
    # The two children nest under the root.
    assert page.locator(".waterfall > .wf-node > .wf-children > .wf-node").count() == 2
    tool = _summary(page, "tool lookup")
    assert "error" in tool.inner_text()
    assert "not found" in tool.inner_text()
    summary = page.locator(".trace-facts")
    assert "ui-app" in summary.inner_text()
    # Every row's bar is an SVG rect placed by attributes (no inline style anywhere on the page).
    assert page.locator("[style]").count() == 0
    assert re.fullmatch(r"[0-9.]+%", page.locator(".wf-bar rect").first.get_attribute("width") or "")

    chat = page.locator("details.wf-item", has=page.locator("summary", has_text="chat gpt-4o"))
    chat.locator("summary").click()
    info = chat.locator(".span-info")
    info.get_by_text("retry", exact=True).wait_for()
    assert "gen_ai.request.model" in info.inner_text()
    request_link = chat.get_by_role("link", name="Open the LLM request")
    assert re.search(r"/ui/requests/[0-9a-f-]{36}$", request_link.get_attribute("href") or "")
    look(page, "trace")


def test_a_span_and_the_children_are_pages_without_javascript(
    browser: Any, key_session: Any, ui_server: UiServer
) -> None:
    context = browser.new_context(
        viewport=VIEWPORT, storage_state=str(key_session), java_script_enabled=False
    )
    page = context.new_page()
    try:
        page.goto(ui_server.ui(f"/traces/{ui_server.seeded.trace_id}"))
        chat = page.locator("details.wf-item", has=page.locator("summary", has_text="chat gpt-4o"))
        chat.locator("summary").click()
        chat.get_by_role("link", name="Span page").click()
        page.wait_for_url(re.compile(r"/spans/[0-9a-f]{16}$"))
        assert page.get_by_role("heading", level=1).inner_text() == "Span chat gpt-4o"
        assert page.get_by_text("retry", exact=True).count() == 1
        assert page.get_by_role("table", name="Attributes of chat gpt-4o").count() == 1
    finally:
        context.close()


def test_bad_and_unknown_trace_ids(page: Any, ui_server: UiServer, errors: Any) -> None:
    assert page.goto(ui_server.ui("/traces/not-a-trace")).status == 400
    assert "32 hex digits" in page.locator("#main").inner_text()
    assert page.goto(ui_server.ui("/traces/" + "0" * 32)).status == 404
    trace_id = ui_server.seeded.trace_id
    assert page.goto(ui_server.ui(f"/traces/{trace_id}/spans/xyz")).status == 400
    assert page.goto(ui_server.ui(f"/traces/{trace_id}/spans/{'0' * 16}")).status == 404
    assert page.goto(ui_server.ui(f"/traces/{trace_id}/children/{'0' * 16}")).status == 404
    errors.messages.clear()  # the browser logs each 4xx answer as a failed load


def test_ten_thousand_span_chain_loads_level_by_level(page: Any, ui_server: UiServer) -> None:
    trace_id = os.urandom(16).hex()
    ids = _ids(BIG)
    _ingest(
        ui_server,
        [
            span(
                openllmetry_chat() if index % 1000 == 999 else {"step": index},
                name=f"step-{index}",
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=ids[index - 1] if index else None,
                start_ns=T0 + index * 1_000_000,
                duration_ms=BIG - index,
            )
            for index, span_id in enumerate(ids)
        ],
    )
    page.goto(ui_server.ui(f"/traces/{trace_id}"))
    assert "10,000" in page.locator(".cards").inner_text()
    # The root and three levels below it; the rest waits behind one control.
    assert _rows(page).count() == 4
    assert _elements(page) < MOST_ELEMENTS
    more = page.get_by_role("link", name=re.compile(r"Show 1 more span \(9,996 with those below\)"))
    more.click()
    page.locator(".wf-name", has_text=re.compile(r"^step-6$")).wait_for()
    assert _rows(page).count() == 8
    page.get_by_role("link", name=re.compile(r"Show 1 more span \(9,992 with those below\)")).click()
    page.locator(".wf-name", has_text=re.compile(r"^step-10$")).wait_for()
    assert _rows(page).count() == 12
    assert page.locator("[style]").count() == 0
    # Deep rows keep their bars on the same axis: the label's indent is a class, not nesting padding.
    deep = _summary(page, "step-10").bounding_box()
    top = _summary(page, "step-0").bounding_box()
    assert deep is not None
    assert top is not None
    assert deep["width"] == top["width"]


def test_ten_thousand_span_fan_pages_its_children(page: Any, ui_server: UiServer) -> None:
    trace_id = os.urandom(16).hex()
    ids = _ids(BIG)
    _ingest(
        ui_server,
        [
            span(
                {"index": index},
                name=f"child-{index}" if index else "fan root",
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=ids[0] if index else None,
                start_ns=T0 + index * 1_000_000,
                duration_ms=5 if index else 20_000,
                status_code=2 if index == 3 else 1,
                status_message="boom" if index == 3 else None,
            )
            for index, span_id in enumerate(ids)
        ],
    )
    page.goto(ui_server.ui(f"/traces/{trace_id}"))
    assert _rows(page).count() == 101  # the root and its first 100 children
    assert _elements(page) < MOST_ELEMENTS
    assert "boom" in _summary(page, "child-3").inner_text()
    page.get_by_role("link", name="Show 9,899 more spans").click()
    page.locator(".wf-name", has_text=re.compile(r"^child-200$")).wait_for()
    assert _rows(page).count() == 201
    assert page.get_by_role("link", name="Show 9,799 more spans").count() == 1
    # Without JavaScript the same control is a link to a page of those children.
    href = page.get_by_role("link", name="Show 9,799 more spans").get_attribute("href") or ""
    page.goto(ui_server.url + href)
    assert page.get_by_role("heading", level=1).inner_text() == "Spans below fan root"
    assert page.locator(".wf-name").first.inner_text() == "child-201"
