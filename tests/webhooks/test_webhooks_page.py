"""The Webhooks pages in a real browser against `heliograph serve` (allowed to deliver to a receiver on
127.0.0.1): adding a webhook through the form, sending a test, seeing logged requests and failures in
its delivery log, a refused destination, and deleting it after a confirmation."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.browser import CHROMIUM_ARGS, chromium
from support.http import auth
from support.server import RunningServer, serve
from web.conftest import VIEWPORT, PageErrors, look

from .support import BOUND_SECONDS, Receiver, chat_log, running_receiver


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("webhooks-ui")
    env = {"HELIOGRAPH_ALLOW_PRIVATE_DESTINATIONS": "true"}
    with serve(f"sqlite:///{directory / 'ui.db'}", directory / "data", extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(server: RunningServer, errors: PageErrors) -> Iterator[Any]:
    """A page signed in with the server's first key; console errors fail the test."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        opened = context.new_page()
        errors.watch(opened)
        opened.goto(f"{server.url}/ui/sign-in")
        opened.get_by_label("API key").fill(server.key)
        opened.get_by_role("button", name="Sign in with key").click()
        opened.wait_for_url(re.compile(r"/ui/requests"))
        yield opened
        context.close()
        browser.close()
    assert not errors.messages, f"the page logged errors: {errors.messages}"


def _log_request(server: RunningServer) -> str:
    request_id = str(uuid.uuid4())
    answer = httpx.post(
        f"{server.url}/v1/trace/custom/log", json=chat_log(request_id), headers=auth(server.key)
    )
    assert answer.status_code == 200, answer.text
    return request_id


def test_add_test_see_the_log_and_delete(page: Any, server: RunningServer, receiver: Receiver) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.url}/ui/webhooks")
    expect(page.get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "page")
    expect(page.locator("table.webhook-list")).to_contain_text("No webhooks yet")
    page.get_by_label("Destination URL").fill(receiver.url)
    page.get_by_label("Sample rate (%)").fill("100")
    page.get_by_label("Property filters").fill("")
    page.get_by_role("button", name="Add webhook").click()
    page.wait_for_url(re.compile(r"/ui/webhooks/[0-9a-f-]{36}\?notice=created"))
    expect(page.locator("p.flash-ok")).to_contain_text("added")
    expect(page.locator("#config")).to_contain_text("100%")
    expect(page.locator("code.secret")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    look(page, "webhook")

    page.get_by_role("button", name="Send test").click()
    page.wait_for_url(re.compile(r"notice=test-sent"))
    log = page.locator("table.deliveries")
    expect(log).to_contain_text("test payload")
    expect(log).to_contain_text("200 delivered")

    request_id = _log_request(server)
    receiver.wait_for(2)
    deadline = time.monotonic() + BOUND_SECONDS
    while request_id[:8] not in page.locator("table.deliveries").inner_text():
        assert time.monotonic() < deadline, "the delivery never showed in the log"
        page.reload()  # the attempt is logged just after the receiver answered
    expect(log.get_by_role("link", name=request_id[:8])).to_be_visible()

    receiver.statuses = [500]
    page.get_by_role("button", name="Send test").click()
    page.wait_for_url(re.compile(r"notice=test-failed"))
    expect(page.locator("p.flash-error")).to_contain_text("not accepted")
    expect(log.locator("tbody tr").first).to_contain_text("500 refused")
    expect(log.locator("tbody tr").first).to_contain_text(
        "the destination answered 500 Internal Server Error"
    )

    page.goto(f"{server.url}/ui/webhooks")
    row = page.locator("table.webhook-list tbody tr").first
    expect(row).to_contain_text(receiver.url)
    expect(row).to_contain_text("500 refused")
    look(page, "webhooks")

    row.get_by_role("link", name=receiver.url).click()
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Delete the webhook")
    page.get_by_role("button", name="Delete webhook").click()
    page.wait_for_url(re.compile(r"/ui/webhooks\?notice=deleted"))
    expect(page.locator("table.webhook-list")).to_contain_text("No webhooks yet")


def test_a_refused_destination_shows_the_form_again(
    page: Any, server: RunningServer, errors: PageErrors
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.url}/ui/webhooks")
    page.get_by_label("Destination URL").fill("ftp://example.com/hook")
    page.get_by_label("Property filters").fill("env=prod\nnot a filter")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator("#add-error")).to_contain_text("line 2")
    page.get_by_label("Property filters").fill("env=prod")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator("#add-error")).to_contain_text("destination must be an http:// or https:// URL")
    expect(page.get_by_label("Destination URL")).to_have_value("ftp://example.com/hook")
    errors.messages.clear()  # the browser logs each 400 answer as a failed load
