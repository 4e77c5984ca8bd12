"""Everything logged is untrusted: prompts and property values holding `<script>`, event-handler
attributes and `javascript:` links render as text on every page, run nothing, and break no page; every
page carries the strict Content-Security-Policy and refuses framing; and no page references another
host (a crawl of every page and fragment link reachable from the requests page)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from heliograph.web.routing import UiRoute
from support.ui_data import SESSION_ID, XSS_LINK, XSS_PROMPT, XSS_PROPERTY
from web.conftest import CSRF_COOKIE, UiServer, csrf_token, ui_client

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Attributes through which a page makes the browser load or go somewhere.
_REFERENCE = re.compile(
    r"""\s(?:src|href|action|formaction|hx-get|hx-post|data-src)\s*=\s*["']([^"']*)["']""", re.IGNORECASE
)


class Attributes(HTMLParser):
    """What a page's real markup holds (a parser, so escaped logged text never counts)."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.styles: list[str] = []
        self.handlers: list[str] = []

    @classmethod
    def of(cls, html: str) -> Attributes:
        parser = cls()
        parser.feed(html)
        return parser

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.inline_scripts += 1
        if tag == "style":
            self.styles.append("<style>")
        self.styles += [f"<{tag} style>" for name in names if name == "style"]
        self.handlers += [f"<{tag} {name}>" for name in names if name.startswith("on")]


def _pages(ui: UiServer) -> list[str]:
    seeded = ui.seeded
    return [
        "/requests",
        f"/requests?ff=prop:Markup&fo=contains&fv={XSS_PROPERTY[:6]}",
        f"/requests/{seeded.xss_request_id}",
        f"/traces/{seeded.trace_id}",
        "/sessions",
        f"/sessions/{SESSION_ID}",
        "/users",
        "/properties",
        "/properties?key=Markup",
        "/properties?key=Link",
        "/dashboard",
        "/prompts",
        "/settings",
    ]


def test_hostile_values_render_as_text_and_run_nothing(page: Any, ui_server: UiServer) -> None:
    for path in _pages(ui_server):
        page.goto(ui_server.ui(path))
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__pwned") is None, path
        # No element the page made from logged data became markup: no <b onmouseover>, no <img onerror>.
        assert page.locator("[onerror], [onmouseover], [onclick], [onload]").count() == 0, path
        assert page.locator("a[href^='javascript:']").count() == 0, path
    page.goto(ui_server.ui(f"/requests/{ui_server.seeded.xss_request_id}"))
    assert page.get_by_text(XSS_PROMPT[:30], exact=False).count() >= 1  # shown, as text


def test_hostile_property_values_show_as_text(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui(f"/requests/{ui_server.seeded.xss_request_id}"))
    text = page.locator("main").inner_text()
    assert XSS_PROPERTY in text
    assert XSS_LINK in text


def test_every_page_has_the_strict_policy_and_refuses_framing(ui_server: UiServer) -> None:
    anonymous = httpx.get(ui_server.ui("/sign-in"))
    assert anonymous.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in anonymous.headers["content-security-policy"]
    with ui_client(ui_server) as client:
        for path in _pages(ui_server):
            response = client.get(f"/ui{path}")
            assert response.status_code == 200, (path, response.status_code)
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy
            assert "style-src 'self'" in policy
            assert "unsafe-inline" not in policy
            assert "frame-ancestors 'none'" in policy
            assert response.headers["x-frame-options"] == "DENY"
            html = response.text
            found = Attributes.of(html)
            assert not found.inline_scripts, path
            assert not found.styles, f"{path} has inline styles: {found.styles[:3]}"
            assert not found.handlers, f"{path} has event-handler attributes: {found.handlers[:3]}"


def test_no_page_references_another_host(ui_server: UiServer) -> None:
    own = urlsplit(ui_server.url).netloc
    seen: set[str] = set()
    queue = [ui_server.ui(path) for path in _pages(ui_server)]
    with ui_client(ui_server) as client:
        while queue and len(seen) < 150:
            url = queue.pop()
            if url in seen:
                continue
            seen.add(url)
            response = client.get(url, headers={"HX-Request": "true"} if "/panels/" in url else {})
            if "text/html" not in response.headers.get("content-type", ""):
                continue
            for reference in _REFERENCE.findall(response.text):
                reference = reference.replace("&amp;", "&")
                if reference.startswith(("#", "data:")) or not reference:
                    continue
                assert not reference.lower().startswith("javascript:"), (url, reference)
                target = urljoin(url, reference)
                assert urlsplit(target).netloc == own, f"{url} references another host: {reference}"
                path = urlsplit(target).path
                # Follow GET links inside the UI (not sign-out, not exports: they are files).
                if path.startswith("/ui/") and "export" not in path and "sign-" not in path:
                    queue.append(target.partition("#")[0])
    assert len(seen) > len(_pages(ui_server))


def test_a_nul_character_is_a_400_not_a_server_error(ui_server: UiServer) -> None:
    """Review regression: PostgreSQL's text cannot hold a NUL; one in the sign-in email or the users
    search reached the services and failed there, a 500, before anyone was signed in."""
    with httpx.Client(base_url=ui_server.url, headers={"Origin": ui_server.url}) as anonymous:
        anonymous.get("/ui/sign-in")
        form = {"email": "a\x00@example.com", "password": "x" * 10, "csrf_token": csrf_token(anonymous)}
        answer = anonymous.post("/ui/sign-in", data=form)
        assert answer.status_code == 400
        assert "NUL" in answer.text
    request_id = ui_server.seeded.request_ids[0]
    with ui_client(ui_server) as client:
        for path in ("/ui/users?q=a%00", "/ui/requests?ff=model&fo=equals&fv=a%00", "/ui/sessions?q=%00"):
            answer = client.get(path)
            assert answer.status_code == 400, path
            assert "text/html" in answer.headers["content-type"], path
        form = {"key": "k\x00", "value": "v", "csrf_token": csrf_token(client)}
        assert client.post(f"/ui/requests/{request_id}/properties", data=form).status_code == 400


def test_a_form_too_large_is_refused_with_a_page(ui_server: UiServer) -> None:
    """Review regression: a form over the body limit was answered in the API's JSON, about API keys."""
    request_id = ui_server.seeded.request_ids[0]
    with ui_client(ui_server) as client:
        form = {"key": "k", "value": "x" * (2 * 1024 * 1024), "csrf_token": csrf_token(client)}
        answer = client.post(f"/ui/requests/{request_id}/properties", data=form)
    assert answer.status_code == 413
    assert "text/html" in answer.headers["content-type"]
    assert "too large" in answer.text
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_an_unexpected_error_is_a_page_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Review regression: an exception no page expected answered the API's JSON 500, which an htmx
    swap showed as nothing at all."""
    router = APIRouter(route_class=UiRoute)

    @router.get("/ui/boom")
    def boom() -> None:
        raise RuntimeError("the bug")

    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        client.cookies.set(CSRF_COOKIE, "a" * 32)  # a valid token: no cookie to set on the answer
        page = client.get("/ui/boom")
        fragment = client.get("/ui/boom", headers={"HX-Request": "true"})
    assert page.status_code == 500
    assert "<h1>Error 500</h1>" in page.text
    assert "the bug" not in page.text
    assert fragment.status_code == 500
    assert fragment.headers["HX-Retarget"] == "#flash"
    assert "RuntimeError: the bug" in caplog.text
