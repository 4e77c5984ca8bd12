"""The Alerts pages in a real browser: creating a rule through the form (latency p95 with a filter, a
Slack destination), a refused form shown again with its error, checking it now and seeing what the check
saw, the list with its state, editing, deleting with a confirmation; and a read-only key that sees no
write controls."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from support.http import auth
from web.conftest import PageErrors, UiServer, create_key, look, sign_in_with_key

HOOK = "https://hooks.example.com/services/T000/B000/XXXX"


def _name() -> str:
    return f"Slow answers {uuid.uuid4().hex[:6]}"


def _fill(page: Any, name: str, *, threshold: str = "600000") -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Metric", exact=True).select_option("latency")
    page.get_by_label("Latency aggregation", exact=True).select_option("p95")
    page.get_by_label("Comparison", exact=True).select_option("gte")
    page.get_by_label("Threshold", exact=True).fill(threshold)
    page.get_by_label("Window", exact=True).fill("10")
    page.get_by_label("Window unit", exact=True).select_option("minutes")
    page.get_by_label("Minimum requests", exact=True).fill("1")
    page.get_by_label("Webhook URL", exact=True).fill(HOOK)
    page.get_by_label("Format", exact=True).select_option("slack")


def test_create_check_edit_and_delete_an_alert(page: Any, ui_server: UiServer, errors: PageErrors) -> None:
    page.goto(ui_server.ui("/alerts"))
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts")).to_have_attribute(
        "aria-current", "page"
    )
    page.get_by_role("link", name="New alert").click()
    page.wait_for_url(re.compile(r"/ui/alerts/new"))
    # The aggregation applies to latency alone: hidden for the default metric.
    expect(page.get_by_label("Latency aggregation", exact=True)).to_be_hidden()
    name = _name()
    _fill(page, name)
    expect(page.get_by_label("Latency aggregation", exact=True)).to_be_visible()
    page.get_by_label("Filter (optional)", exact=True).fill(
        '{"request_response_rmt": {"nope": {"equals": 1}}}'
    )
    look(page, "alert-new")
    page.get_by_role("button", name="Create alert").click()

    # Refused by the service: the form again, as it was sent, with the field named.
    expect(page.locator("#form-error")).to_contain_text("filter:")
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)
    expect(page.get_by_label("Format", exact=True)).to_have_value("slack")
    errors.messages.clear()  # the browser logs the 400 answer as a failed load
    page.get_by_label("Filter (optional)", exact=True).fill(
        '{"request_response_rmt": {"model": {"equals": "gpt-4o-mini"}}}'
    )
    page.get_by_role("button", name="Create alert").click()
    page.wait_for_url(re.compile(r"/ui/alerts/[0-9a-f-]{36}\?notice=created"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    rule = page.locator("#rule")
    expect(rule).to_contain_text("p95 latency ≥ 600,000 ms over 10 min")
    expect(rule).to_contain_text("gpt-4o-mini")
    expect(rule).to_contain_text("Slack message")
    expect(page.locator("#events")).to_contain_text("No events yet")

    # Check now: the server's check runs in the background; the page shows what it saw.
    page.get_by_role("button", name="Check now").click()
    page.wait_for_url(re.compile(r"notice=checking"))
    for _ in range(100):
        if "not checked yet" not in rule.inner_text():
            break
        page.wait_for_timeout(100)
        page.reload()
    expect(rule).to_contain_text("request")
    expect(rule.locator(".badge")).to_have_text("ok")
    look(page, "alert")

    page.goto(ui_server.ui("/alerts"))
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("ok")
    expect(row).to_contain_text("(filtered)")
    expect(row).to_contain_text("Slack")
    look(page, "alerts-list")

    row.get_by_role("link", name=name).click()
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Threshold", exact=True)).to_have_value("600000")
    expect(page.get_by_label("Latency aggregation", exact=True)).to_have_value("p95")
    page.get_by_label("Threshold", exact=True).fill("abc")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#form-error")).to_contain_text("threshold: must be a number")
    errors.messages.clear()
    page.get_by_label("Threshold", exact=True).fill("900000")
    page.get_by_label("Enabled", exact=True).uncheck()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"notice=saved"))
    expect(rule).to_contain_text("900,000 ms")
    expect(rule.locator(".badge")).to_have_text("disabled")

    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Delete {name}?")
    page.get_by_role("button", name=f"Delete {name}").click()
    page.wait_for_url(re.compile(r"/ui/alerts\?notice=deleted"))
    expect(page.get_by_role("table")).not_to_contain_text(name)


def test_a_reader_sees_no_write_controls(browser: Any, ui_server: UiServer) -> None:
    created = httpx.post(
        f"{ui_server.url}/v1/alerts",
        json={
            "name": _name(),
            "metric": "cost",
            "threshold": 1000,
            "window_seconds": 3600,
            "destination_url": HOOK,
        },
        headers=auth(ui_server.key),
        timeout=30,
    )
    assert created.status_code == 201, created.text
    alert_id = created.json()["data"]["id"]
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in_with_key(page, ui_server, create_key(ui_server, "r"))
        page.goto(ui_server.ui("/alerts"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
        expect(page.get_by_role("link", name="New alert")).to_have_count(0)
        page.goto(ui_server.ui(f"/alerts/{alert_id}"))
        expect(page.get_by_role("button", name="Check now")).to_have_count(0)
        expect(page.get_by_role("link", name="Edit")).to_have_count(0)
        answer = page.goto(ui_server.ui("/alerts/new"))
        assert answer is not None
        assert answer.status == 403
    finally:
        context.close()
