"""Browser tests of the web UI: Debian's headless Chromium (through Playwright, never a downloaded
browser) against `heliograph serve` as a subprocess, with traffic sent through the real gateway and
OTLP paths (``support/ui_data.py``).

One server and one browser serve the whole directory; each test gets a fresh browser context signed
in as the admin key's principal. Console errors and uncaught page errors fail the test. ``look``
checks a page with axe-core (zero violations) and saves a 1280x800 screenshot under
``test-artifacts/ui/`` (not committed), for a person to open. Members and keys are made with the
CLI as an operator would (``create_member``, ``create_key``), and signed in through the sign-in form
(``sign_in_with_password`` in a browser, ``ui_client`` over HTTP).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from heliograph.dev.fake_provider import FakeProvider, running_fake_provider
from support.browser import CHROMIUM_ARGS, chromium
from support.http import auth
from support.server import RunningServer, serve
from support.ui_data import Seeded, seed

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("HELIOGRAPH_SCREENSHOTS", ROOT / "test-artifacts" / "ui"))
VIEWPORT = {"width": 1280, "height": 800}
_LINK = re.compile(r"(http://\S+/ui/sign-in/link\?token=\S+)")
CSRF_COOKIE = "heliograph_csrf"
MEMBER_PASSWORD = "member password 1234"


@dataclass
class UiServer:
    url: str
    key: str
    first_link: str  # the one-time link the first start printed
    seeded: Seeded
    server: RunningServer

    def ui(self, path: str = "") -> str:
        return f"{self.url}/ui{path}"


@pytest.fixture(scope="package")
def fake_provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as fake:
        yield fake


@pytest.fixture(scope="package")
def ui_server(tmp_path_factory: pytest.TempPathFactory, fake_provider: FakeProvider) -> Iterator[UiServer]:
    directory = tmp_path_factory.mktemp("ui")
    env = {
        "HELIOGRAPH_PROVIDER_URL_OPENAI": fake_provider.url,
        "HELIOGRAPH_PROVIDER_URL_ANTHROPIC": fake_provider.url,
        # The server's own key for its judges' calls (the fake provider takes any).
        "HELIOGRAPH_PROVIDER_KEY_OPENAI": "sk-fake-judge",
    }
    with serve(f"sqlite:///{directory / 'ui.db'}", directory / "data", extra_env=env) as running:
        found = _LINK.search(running.log_path.read_text())
        assert found, f"serve printed no sign-in link:\n{running.log_path.read_text()}"
        seeded = seed(running.url, running.key)
        yield UiServer(running.url, running.key, found.group(1), seeded, running)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class PageErrors:
    """Console errors and uncaught exceptions a page raised; a test may expect some and clear them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("console", lambda message: message.type == "error" and self.messages.append(message.text))
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))


@pytest.fixture(scope="package")
def key_session(browser: Any, ui_server: UiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Browser storage signed in with the admin API key, through the sign-in form."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    sign_in_with_key(page, ui_server, ui_server.key)
    state = tmp_path_factory.mktemp("state") / "key.json"
    context.storage_state(path=str(state))
    context.close()
    return state


@pytest.fixture
def errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Any, key_session: Path, errors: PageErrors) -> Iterator[Any]:
    """A page signed in with the admin key. Console errors fail the test."""
    context = browser.new_context(viewport=VIEWPORT, storage_state=str(key_session))
    opened = context.new_page()
    errors.watch(opened)
    yield opened
    context.close()
    assert not errors.messages, f"the page logged errors: {errors.messages}"


@pytest.fixture
def anonymous_page(browser: Any, errors: PageErrors) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    errors.watch(opened)
    yield opened
    context.close()


def look(page: Any, name: str) -> None:
    """Zero axe-core violations on the page as it is now, and its screenshot saved as ``name``."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response["violations"]
    described = [
        f"{item['id']}: {item['help']} at {[node['target'] for node in item['nodes'][:3]]}"
        for item in violations
    ]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret leaves style="" on every input, which htmx's settling then
    # copies onto swapped-in inputs of the same id, and the CSP refuses (a console error).
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), caret="initial")
    assert not violations, f"axe found {len(violations)} violations on {name}: {described}"


# --- members, keys and signed-in clients ----------------------------------------------------------


def cli(ui_server: UiServer, *args: str) -> str:
    """``heliograph <args>`` run as an operator would, against the test server's database and data
    directory (whose secret signs one-time links); its standard output."""
    directory = ui_server.server.log_path.parent
    where = ["--database-url", f"sqlite:///{directory / 'ui.db'}", "--data-dir", str(directory / "data")]
    done = subprocess.run(
        [sys.executable, "-m", "heliograph.cli.main", *args, *where],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass(frozen=True)
class Member:
    email: str
    password: str


def create_member(
    ui_server: UiServer,
    role: str,
    *,
    email: str | None = None,
    password: str = MEMBER_PASSWORD,
    organization: str = "default",
) -> Member:
    """A member made with ``heliograph users create`` (a fresh email unless one is given)."""
    address = email or f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    cli(
        ui_server,
        *("users", "create", "--org", organization, "--email", address, "--role", role),
        *("--password", password),
    )
    return Member(address, password)


def create_key(ui_server: UiServer, permissions: str = "rw", *, organization: str = "default") -> str:
    """A new API key made with ``heliograph keys create``."""
    command = [
        "keys",
        "create",
        "--org",
        organization,
        "--name",
        f"ui-{permissions}",
        "--permissions",
        permissions,
    ]
    return cli(ui_server, *command).strip()


def sign_in_with_password(page: Any, ui_server: UiServer, member: Member, next_path: str = "") -> None:
    """Sign ``page`` in through the sign-in form; it lands on ``next_path`` (default: Requests)."""
    page.goto(ui_server.ui("/sign-in" + (f"?next={next_path}" if next_path else "")))
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(re.escape(next_path or "/ui/requests")))


def sign_in_with_key(page: Any, ui_server: UiServer, key: str) -> None:
    """Sign ``page`` in with an API key through the sign-in form; it lands on Requests."""
    page.goto(ui_server.ui("/sign-in"))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in with key").click()
    page.wait_for_url(re.compile(r"/ui/requests"))


@contextmanager
def ui_client(
    ui_server: UiServer, *, key: str | None = None, member: Member | None = None
) -> Iterator[httpx.Client]:
    """An HTTP client signed in through the sign-in form (as ``member``, else with ``key``, else with
    the admin key) that sends this server's ``Origin`` as a browser would."""
    with httpx.Client(base_url=ui_server.url, headers={"Origin": ui_server.url}, timeout=30) as client:
        client.get("/ui/sign-in")
        data = {"csrf_token": csrf_token(client)}
        if member is not None:
            data.update(email=member.email, password=member.password)
        else:
            data["api_key"] = key or ui_server.key
        answer = client.post("/ui/sign-in", data=data)
        assert answer.status_code == 303, answer.text
        yield client


def csrf_token(client: httpx.Client) -> str:
    return client.cookies.get(CSRF_COOKIE) or ""


def page_csrf_token(page: Any) -> str:
    """The CSRF token of a browser page's session (its forms carry it; a test posting by hand needs it)."""
    return str(next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == CSRF_COOKIE))


def log_chat_call(ui_server: UiServer, key: str, body: dict[str, Any], **headers: str) -> str:
    """Send ``body`` through the OpenAI gateway with ``key`` (any shape: the gateway logs what it was
    given, as a client's odd body would be), and wait until the call is stored; its request id."""
    answer = httpx.post(
        f"{ui_server.url}/v1/gateway/oai/v1/chat/completions",
        json=body,
        headers={"Authorization": "Bearer sk-test", "Helicone-Auth": f"Bearer {key}", **headers},
        timeout=30,
    )
    request_id = answer.headers["helicone-id"]
    deadline = time.monotonic() + 15
    while not httpx.get(f"{ui_server.url}/v1/request/{request_id}", headers=auth(key)).json()["data"]:
        assert time.monotonic() < deadline, f"request {request_id} was never stored"
        time.sleep(0.05)
    return request_id
