"""Signing in and out in a real browser: the one-time link, email and password, an API key."""

from __future__ import annotations

import re
from typing import Any

import httpx

from web.conftest import Member, UiServer, create_member, csrf_token, look, sign_in_with_password


def test_sign_in_page_is_accessible(anonymous_page: Any, ui_server: UiServer) -> None:
    anonymous_page.goto(ui_server.ui("/requests"))
    anonymous_page.wait_for_url(re.compile(r"/ui/sign-in\?next="))
    look(anonymous_page, "sign-in")


def test_wrong_key_is_refused(anonymous_page: Any, ui_server: UiServer, errors: Any) -> None:
    anonymous_page.goto(ui_server.ui("/sign-in"))
    anonymous_page.get_by_label("API key").fill("sk-heliograph-not-a-key")
    anonymous_page.get_by_role("button", name="Sign in with key").click()
    assert "not valid" in anonymous_page.get_by_role("alert").inner_text()
    errors.messages.clear()  # the 401 answer is logged by the browser as a failed load


def test_sign_in_with_password_then_sign_out(anonymous_page: Any, ui_server: UiServer) -> None:
    create_member(ui_server, "viewer", email="Grace@Example.com", password="correct horse battery")
    page = anonymous_page
    # The email is matched whatever its case.
    sign_in_with_password(page, ui_server, Member("grace@example.com", "correct horse battery"))
    assert "grace@example.com" in page.locator("header").inner_text()
    copied = next(c["value"] for c in page.context.cookies() if c["name"] == "heliograph_session")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/ui/sign-in"))
    page.goto(ui_server.ui("/requests"))
    page.wait_for_url(re.compile(r"/ui/sign-in"))
    # Signing out ends the session on the server too: a copy of the cookie no longer signs anyone in.
    replayed = httpx.get(ui_server.ui("/requests"), cookies={"heliograph_session": copied})
    assert replayed.status_code == 303
    assert "/ui/sign-in" in replayed.headers["location"]


def test_first_start_link_signs_in_once(browser: Any, ui_server: UiServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(ui_server.first_link)
    page.wait_for_url(re.compile(r"/ui/requests"))
    assert "admin@localhost" in page.locator("header").inner_text()
    context.close()
    # The link is spent: a second use signs nobody in.
    again = httpx.get(ui_server.first_link, follow_redirects=False)
    assert again.status_code == 401
    assert "heliograph_session" not in again.headers.get("set-cookie", "")


def test_form_posts_check_origin_and_csrf(ui_server: UiServer) -> None:
    with httpx.Client(base_url=ui_server.url) as client:
        client.get("/ui/sign-in")
        token = client.cookies.get("heliograph_csrf")
        assert token
        data = {"api_key": ui_server.key, "csrf_token": token}
        foreign = client.post("/ui/sign-in", data=data, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403
        missing = client.post(
            "/ui/sign-in", data={"api_key": ui_server.key}, headers={"Origin": ui_server.url}
        )
        assert missing.status_code == 403
        good = client.post("/ui/sign-in", data=data, headers={"Origin": ui_server.url})
        assert good.status_code == 303
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie


def test_signing_in_issues_a_new_csrf_token(ui_server: UiServer) -> None:
    """Review regression: the CSRF token from before signing in stayed valid after it, so a token
    planted in the cookie (any app on another port of the same host can set one) outlived sign-in."""
    with httpx.Client(base_url=ui_server.url, headers={"Origin": ui_server.url}) as client:
        client.get("/ui/sign-in")
        before = csrf_token(client)
        signed = client.post("/ui/sign-in", data={"api_key": ui_server.key, "csrf_token": before})
        assert signed.status_code == 303
        after = csrf_token(client)
        assert after
        assert after != before
        stale = client.post("/ui/sign-out", data={"csrf_token": before})
        assert stale.status_code == 403
        assert client.post("/ui/sign-out", data={"csrf_token": after}).status_code == 303
