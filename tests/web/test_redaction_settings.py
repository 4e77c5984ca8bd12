"""The Redaction section of the Settings page in a real browser: switching redaction on, choosing the
detectors, adding, refusing and removing custom rules, and previewing; read back over the API. It
works in an organization of its own, so the other UI tests' data is never redacted."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.http import auth
from web.conftest import VIEWPORT, PageErrors, UiServer, create_key, look, page_csrf_token, sign_in_with_key

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def org_name() -> str:
    return f"redaction-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def org_key(ui_server: UiServer, org_name: str) -> str:
    return create_key(ui_server, "rw", organization=org_name)


@pytest.fixture
def org_page(browser: Any, ui_server: UiServer, org_key: str, errors: PageErrors) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    errors.watch(opened)
    sign_in_with_key(opened, ui_server, org_key)
    yield opened
    context.close()
    assert not errors.messages, f"the page logged errors: {errors.messages}"


def _policy(ui_server: UiServer, key: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{ui_server.url}/v1/redaction", headers=auth(key), timeout=10).json()[
        "data"
    ]
    return data


def test_rules_are_saved_previewed_refused_and_removed(
    org_page: Any, ui_server: UiServer, org_key: str, errors: PageErrors
) -> None:
    page = org_page
    page.goto(ui_server.ui("/settings"))
    section = page.locator("#redaction")
    section.get_by_label("Redact what is logged from now on").check()
    section.get_by_label("Phone numbers").uncheck()
    section.get_by_label("Replacement kind of a new rule").fill("ticket")
    section.get_by_label("Regular expression of a new rule").fill(r"TCK-\d{6}")
    section.get_by_role("button", name="Save redaction rules").click()
    page.wait_for_url(re.compile(r"notice=redaction-saved"))
    assert "redaction rules were saved" in page.locator("main").inner_text()
    policy = _policy(ui_server, org_key)
    assert policy["enabled"] is True
    assert policy["detectors"] == ["email", "payment_card", "api_key", "bearer"]
    assert policy["customRules"] == [{"name": "ticket", "pattern": r"TCK-\d{6}"}]

    # Preview (htmx swaps just the result in).
    page.get_by_label(re.compile("Text or JSON to redact")).fill(
        "mail a@b.io about TCK-123456, call 415-555-2671"
    )
    page.get_by_role("button", name="Preview").click()
    result = page.locator("#redaction-preview pre")
    result.wait_for()
    assert result.inner_text() == "mail [REDACTED:email] about [REDACTED:ticket], call 415-555-2671"
    look(page, "settings-redaction")

    # A bad pattern is refused naming the rule; what was typed stays on the page.
    page.goto(ui_server.ui("/settings"))
    section = page.locator("#redaction")
    section.get_by_label("Replacement kind of a new rule").fill("broken")
    section.get_by_label("Regular expression of a new rule").fill("TCK-(")
    section.get_by_role("button", name="Save redaction rules").click()
    assert "customRules[1] (broken).pattern" in page.get_by_role("alert").inner_text()
    assert page.locator("#redaction").get_by_label("Replacement kind of rule 2").input_value() == "broken"
    assert _policy(ui_server, org_key)["version"] == 1
    errors.messages.clear()  # the refused form's 400, expected

    # Removing the rule and switching off.
    page.goto(ui_server.ui("/settings"))
    section = page.locator("#redaction")
    section.get_by_label("Remove ticket").check()
    section.get_by_label("Redact what is logged from now on").uncheck()
    section.get_by_role("button", name="Save redaction rules").click()
    page.wait_for_url(re.compile(r"notice=redaction-saved"))
    policy = _policy(ui_server, org_key)
    assert (policy["enabled"], policy["customRules"]) == (False, [])


def test_a_read_only_key_sees_the_rules_but_cannot_save(
    browser: Any, ui_server: UiServer, org_name: str
) -> None:
    reader = create_key(ui_server, "r", organization=org_name)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in_with_key(page, ui_server, reader)
        page.goto(ui_server.ui("/settings"))
        assert page.get_by_role("button", name="Save redaction rules").count() == 0
        assert page.get_by_role("button", name="Preview").is_visible()
        refused = page.request.post(
            ui_server.ui("/settings/redaction"),
            form={"enabled": "on", "csrf_token": page_csrf_token(page)},
            headers={"Origin": ui_server.url},
            max_redirects=0,
        )
        assert refused.status == 403
        no_csrf = page.request.post(
            ui_server.ui("/settings/redaction/preview"),
            form={"text": "a@b.io"},
            headers={"Origin": ui_server.url},
            max_redirects=0,
        )
        assert no_csrf.status in (400, 403)
    finally:
        context.close()
