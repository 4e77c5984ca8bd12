"""Browser tests of the web UI: Debian's headless Chromium (through Playwright, never a downloaded
browser) against `heliograph serve` as a subprocess, with traffic sent through the real gateway and
OTLP paths (``support/ui_data.py``).

One server and one browser serve the whole directory; each test gets a fresh browser context signed
in as the admin key's principal. Console errors and uncaught page errors fail the test. ``look``
checks a page with axe-core (zero violations) and saves a 1280x800 screenshot under
``test-artifacts/ui/`` (not committed), for a person to open.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from heliograph.dev.fake_provider import FakeProvider, running_fake_provider
from support.browser import CHROMIUM_ARGS, chromium
from support.server import RunningServer, serve
from support.ui_data import Seeded, seed

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("HELIOGRAPH_SCREENSHOTS", ROOT / "test-artifacts" / "ui"))
VIEWPORT = {"width": 1280, "height": 800}
_LINK = re.compile(r"(http://\S+/ui/sign-in/link\?token=\S+)")


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
    page.goto(ui_server.ui("/sign-in"))
    page.get_by_label("API key").fill(ui_server.key)
    page.get_by_role("button", name="Sign in with key").click()
    page.wait_for_url(re.compile(r"/ui/requests"))
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
