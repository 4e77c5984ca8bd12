"""``/docs`` works without internet: every HTML page `heliograph serve` serves, and every asset the
pages reference, comes from the server itself (vendored swagger-ui, shipped as package data); and a
real browser loading the page asks no other host for anything."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from heliograph.api.docs_pages import static_directory
from support.browser import CHROMIUM_ARGS, chromium
from support.server import RunningServer, serve

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["/", "/docs"]
# What makes a browser load something: attributes in HTML, url() and @import in CSS.
HTML_REFERENCE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
CSS_REFERENCE = re.compile(r"""url\(\s*["']?([^"')]+?)["']?\s*\)|@import\s+["']([^"']+)["']""", re.IGNORECASE)
REMOTE = re.compile(r"https?://", re.IGNORECASE)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("docs")
    with serve(f"sqlite:///{directory / 'docs.db'}", directory / "data") as running:
        yield running


def _references(content_type: str, text: str) -> list[str]:
    if "html" in content_type:
        found = HTML_REFERENCE.findall(text)
        for style in re.findall(r"<style[^>]*>(.*?)</style>", text, re.DOTALL | re.IGNORECASE):
            found += _references("text/css", style)
        return found
    if "css" in content_type:
        return [url or imported for url, imported in CSS_REFERENCE.findall(text)]
    return []


def crawl(server: RunningServer) -> dict[str, httpx.Response]:
    """Every HTML page reachable from PAGES, and every asset they (and their CSS) reference."""
    own = urlsplit(server.url).netloc
    fetched: dict[str, httpx.Response] = {}
    queue = [server.url + page for page in PAGES]
    with httpx.Client(timeout=30) as client:
        while queue:
            url = queue.pop()
            if url in fetched:
                continue
            response = fetched[url] = client.get(url)
            content_type = response.headers.get("content-type", "")
            for reference in _references(content_type, response.text):
                if reference.startswith(("data:", "#")):
                    continue
                target = urljoin(url, reference)
                assert urlsplit(target).netloc == own, f"{url} references another host: {reference}"
                queue.append(target.partition("#")[0])
    return fetched


def test_no_page_references_another_host(server: RunningServer) -> None:
    fetched = crawl(server)
    pages = {url: r for url, r in fetched.items() if "text/html" in r.headers.get("content-type", "")}
    assert {urlsplit(url).path for url in pages} >= {"/docs"}
    for url, response in pages.items():
        assert response.status_code == 200, url
        # Not only no reference: no remote URL anywhere in a page (scripts and configuration included).
        assert not REMOTE.search(response.text), f"{url}: {REMOTE.search(response.text)}"
    assets = {url: r for url, r in fetched.items() if url not in pages and urlsplit(url).path not in PAGES}
    paths = {urlsplit(url).path for url in assets}
    assert paths >= {
        "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui-dist/swagger-ui.css",
        "/static/vendor/swagger-ui-dist/favicon-32x32.png",
    }
    for url, response in assets.items():
        assert response.status_code == 200, url
        assert len(response.content) > 0, url


def test_swagger_ui_is_configured_without_remote_urls(server: RunningServer) -> None:
    page = httpx.get(f"{server.url}/docs").text
    assert '"validatorUrl": null' in page  # no spec sent to validator.swagger.io
    assert "url: '/openapi.json'" in page
    # FastAPI's OAuth2 redirect page (unused here) is off.
    assert httpx.get(f"{server.url}/docs/oauth2-redirect").status_code == 404
    # ReDoc's bundle loads its logo from cdn.redoc.ly whatever its options: the page is not served.
    assert httpx.get(f"{server.url}/redoc").status_code == 404


def test_the_scripts_are_the_vendored_copies(server: RunningServer) -> None:
    for name in (
        "swagger-ui-dist/swagger-ui-bundle.js",
        "swagger-ui-dist/swagger-ui.css",
    ):
        served = httpx.get(f"{server.url}/static/vendor/{name}")
        assert served.status_code == 200
        assert served.content == (static_directory() / "vendor" / name).read_bytes()


def test_package_data_ships_every_vendored_file() -> None:
    """pyproject's package-data covers web/static, so a non-editable install serves the pages too."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["heliograph"]
    package = ROOT / "src" / "heliograph"
    shipped = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    vendored = {path for path in (package / "web" / "static").rglob("*") if path.is_file()}
    assert vendored, "nothing is vendored"
    assert vendored <= shipped, sorted(str(path.relative_to(package)) for path in vendored - shipped)
    for directory in (package / "web" / "static" / "vendor").iterdir():
        names = {path.name for path in directory.iterdir()}
        assert "LICENSE" in names, directory
        readme = (directory / "README.md").read_text()
        assert "version" in readme.lower() or re.search(r"\d+\.\d+\.\d+", readme), directory
        assert "registry.npmjs.org" in readme, directory


def test_a_browser_renders_the_docs_asking_no_other_host(server: RunningServer) -> None:
    """What the page does when it runs, not only what its HTML names: Chromium loads /docs with every
    request to another host refused and recorded, and Swagger UI must render the operations."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    own = urlsplit(server.url).netloc
    elsewhere: list[str] = []
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            def guard(route: Any) -> None:
                if urlsplit(route.request.url).netloc == own or route.request.url.startswith("data:"):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()

            page.route("**/*", guard)
            page.goto(f"{server.url}/docs")
            # The operations are grouped by tag, collapsed (docs_pages.py): every tag is listed, and
            # opening one shows its operations.
            page.wait_for_selector(".opblock-tag:has-text('Experiment')", timeout=30_000)
            tags = page.locator(".opblock-tag").all_inner_texts()
            page.locator(".opblock-tag", has_text="Request").first.click()
            page.wait_for_selector(".opblock-summary-path:has-text('/v1/request/query')", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
        finally:
            browser.close()
    assert {"Request", "Prompt", "Evaluator", "Dataset", "Experiment"} <= {tag.strip() for tag in tags}, tags
    assert any("/v1/request/query" in path for path in paths), paths
    assert elsewhere == []
