"""The server under a sub-path behind a reverse proxy (``root_path``, docs/deployment.md), on both
databases: ``heliograph serve`` with ``HELIOGRAPH_ROOT_PATH=/heliograph`` behind a small reverse proxy
written here, as nginx's ``location /heliograph/ { proxy_pass http://127.0.0.1:8585/; }`` forwards
(the prefix stripped; ``Host`` and ``X-Forwarded-*`` passed on), and behind a second one that keeps
the prefix (``proxy_pass http://127.0.0.1:8585;``).

Through the proxy, as a user meets it: the traffic the other UI tests look at is sent through it (the
gateway with the ``openai`` and ``anthropic`` clients, OTLP, the REST API); Chromium signs in and opens
the dashboard, the requests list, a request and the settings, and every link, form action, htmx URL,
script and stylesheet on those pages starts with ``/heliograph/`` and loads, with no 4xx or 5xx in the
browser's network log and no console error; signing out and back in keeps the prefix; ``/docs`` loads
its OpenAPI document through the prefix and its "Try it out" calls go through it too."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiohttp import ClientSession, ClientTimeout, web
from click.testing import CliRunner
from playwright.sync_api import expect

from heliograph.app import create_app
from heliograph.cli.main import cli
from heliograph.dev.fake_provider import REPLY, FakeProvider
from heliograph.root_path import SERVER_SEGMENTS
from heliograph.settings import Settings
from support.http import auth
from support.server import free_port, scratch_database, serve
from support.ui_data import Seeded, seed
from web.conftest import VIEWPORT, PageErrors, csrf_token

PREFIX = "/heliograph"
# Hop-by-hop headers (RFC 9110, 7.6.1) end at the proxy; the body is re-framed on each side.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
# What each page's elements may point at: every URL-valued attribute the templates use.
_COLLECT_URLS = """() => {
  const names = ["href", "src", "action", "formaction", "hx-get", "hx-post", "hx-put", "hx-patch",
                 "hx-delete"];
  const found = [];
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      const name = attribute.name;
      if (names.includes(name) || name.endsWith("-url")) {
        found.push({tag: element.tagName.toLowerCase(), name: name, value: attribute.value,
                    url: new URL(attribute.value, document.baseURI).href});
      }
    }
  }
  return found;
}"""


class ReverseProxy:
    """A reverse proxy on 127.0.0.1: requests under ``PREFIX`` go to ``upstream``, with the prefix
    taken off (``strip``) or kept; anything else is 404, as nginx answers outside its locations."""

    def __init__(self, upstream: str, *, strip: bool, port: int | None = None) -> None:
        self.upstream = upstream
        self.strip = strip
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    def __enter__(self) -> ReverseProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        # Bodies pass as they are (compressed or not); redirects go back to the browser.
        self._session = ClientSession(auto_decompress=False, timeout=ClientTimeout(total=60))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path
        if not (path == PREFIX or path.startswith((PREFIX + "/", PREFIX + "?"))):
            return web.Response(status=404, text="not under the proxy's location")
        target = path[len(PREFIX) :] if self.strip else path
        if not target.startswith("/"):
            target = "/" + target
        headers = [
            (name, value) for name, value in request.headers.items() if name.lower() not in _HOP_BY_HOP
        ]
        headers += [("X-Forwarded-For", request.remote or ""), ("X-Forwarded-Proto", "http")]
        headers += [("X-Forwarded-Prefix", PREFIX)]
        body = await request.read() if request.body_exists else None
        assert self._session is not None
        async with self._session.request(
            request.method, self.upstream + target, headers=headers, data=body, allow_redirects=False
        ) as answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            for name, value in answer.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


@dataclass(frozen=True)
class Site:
    server: str  # the server itself, without the prefix
    key: str
    proxy: ReverseProxy  # strips the prefix; HELIOGRAPH_PUBLIC_URL names it
    keeping: ReverseProxy  # passes the prefix on
    seeded: Seeded

    @property
    def base(self) -> str:
        return self.proxy.url + PREFIX

    def ui(self, path: str = "") -> str:
        return f"{self.base}/ui{path}"


@pytest.fixture(scope="module")
def site(
    dialect: str, tmp_path_factory: pytest.TempPathFactory, fake_provider: FakeProvider
) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp(f"root-path-{dialect}")
    proxy_port = free_port()
    env = {
        "HELIOGRAPH_ROOT_PATH": PREFIX,
        "HELIOGRAPH_PUBLIC_URL": f"http://127.0.0.1:{proxy_port}{PREFIX}",
        "HELIOGRAPH_PROVIDER_URL_OPENAI": fake_provider.url,
        "HELIOGRAPH_PROVIDER_URL_ANTHROPIC": fake_provider.url,
    }
    with (
        scratch_database(dialect, directory) as url,
        serve(url, directory / "data", extra_env=env) as running,
        ReverseProxy(running.url, strip=True, port=proxy_port) as proxy,
        ReverseProxy(running.url, strip=False) as keeping,
    ):
        # The traffic goes through the proxy too: the gateway, OTLP and the REST API under the prefix.
        seeded = seed(proxy.url + PREFIX, running.key)
        yield Site(running.url, running.key, proxy, keeping, seeded)


@pytest.fixture
def page(browser: Any, errors: PageErrors) -> Iterator[Any]:
    """A fresh browser page, not signed in. Console errors fail the test."""
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    errors.watch(opened)
    yield opened
    context.close()
    assert not errors.messages, f"the page logged errors: {errors.messages}"


class NetworkLog:
    """Every request a page made and every answer of 400 or more."""

    def __init__(self, page: Any) -> None:
        self.requested: list[str] = []
        self.failed: list[str] = []
        page.on("request", lambda request: self.requested.append(request.url))
        page.on(
            "response",
            lambda response: (
                response.status >= 400 and self.failed.append(f"{response.status} {response.url}")
            ),
        )
        page.on("requestfailed", lambda request: self.failed.append(f"failed {request.url}"))


def _sign_in(page: Any, site: Site) -> None:
    page.goto(site.ui("/sign-in"))
    page.get_by_label("API key").fill(site.key)
    page.get_by_role("button", name="Sign in with key").click()
    page.wait_for_url(re.compile(re.escape(f"{PREFIX}/ui/requests")))


def _own_paths(urls: list[str], site: Site) -> list[str]:
    own = urlsplit(site.proxy.url).netloc
    return [urlsplit(url).path for url in urls if urlsplit(url).netloc == own]


def _check_page(page: Any, site: Site, network: NetworkLog, loaded: set[str]) -> int:
    """Every URL the page's elements name points under the prefix, and each one a GET can fetch
    (links, htmx GETs, scripts, stylesheets, icons) loads; how many URLs were checked."""
    page.wait_for_load_state("networkidle")
    found = page.evaluate(_COLLECT_URLS)
    own = urlsplit(site.proxy.url).netloc
    outside = [
        item
        for item in found
        if urlsplit(item["url"]).netloc == own and not urlsplit(item["url"]).path.startswith(PREFIX + "/")
    ]
    assert not outside, f"{page.url}: URLs outside {PREFIX}/: {outside[:10]}"
    fetchable = {
        item["url"].split("#")[0]
        for item in found
        if urlsplit(item["url"]).netloc == own
        and (item["name"] in ("src", "hx-get") or (item["name"] == "href" and item["tag"] in ("a", "link")))
    }
    for url in sorted(fetchable - loaded):
        answer = page.request.get(url, max_redirects=5)
        assert answer.status < 400, f"{page.url} names {url}, which answers {answer.status}"
        loaded.add(url)
    outside_requests = [
        path for path in _own_paths(network.requested, site) if not path.startswith(PREFIX + "/")
    ]
    assert not outside_requests, f"{page.url} requested outside {PREFIX}/: {outside_requests}"
    assert not network.failed, f"{page.url}: {network.failed}"
    return len(found)


def test_the_ui_under_the_prefix_links_and_loads(page: Any, site: Site) -> None:
    network = NetworkLog(page)
    _sign_in(page, site)
    session = next(cookie for cookie in page.context.cookies() if cookie["name"] == "heliograph_session")
    assert session["path"] == f"{PREFIX}/ui"
    request_id = site.seeded.request_ids[0]
    pages = ["/dashboard", "/requests", f"/requests/{request_id}", "/settings", "/sessions"]
    loaded: set[str] = set()
    for path in pages:
        page.goto(site.ui(path))
        assert urlsplit(page.url).path == f"{PREFIX}/ui{path}"
        # The menu marks the page it is on: the template compares the request's path, prefix included.
        expect(page.locator("nav[aria-label=Main] a[aria-current=page]")).to_have_count(1)
        assert _check_page(page, site, network, loaded) > 10, path
    # The dashboard's lazy panels (htmx) and the scripts came through the prefix.
    requested = _own_paths(network.requested, site)
    assert any(path.startswith(f"{PREFIX}/ui/dashboard/panels/") for path in requested), requested
    assert f"{PREFIX}/static/vendor/htmx.org/htmx.min.js" in requested
    # A request opened in the list's drawer (htmx), a form posted from it (htmx, with its CSRF
    # header), and the drawer closed again: all under the prefix.
    page.goto(site.ui("/requests?range=all"))
    row = page.locator("#rows tr").first
    shown = row.get_attribute("data-request-id")
    row.locator("a.request-link").click()
    drawer = page.locator("#drawer")
    expect(drawer.get_by_role("heading", level=2)).to_contain_text(str(shown))
    expect(page).to_have_url(re.compile(rf"{PREFIX}/ui/requests/{shown}\?range=all$"))
    drawer.get_by_role("button", name="Thumbs down").click()
    expect(drawer.get_by_text("Feedback saved.")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(rf"{PREFIX}/ui/requests\?range=all$"))
    assert not network.failed, network.failed


def test_signing_out_and_in_again_keeps_the_prefix(page: Any, site: Site) -> None:
    network = NetworkLog(page)
    _sign_in(page, site)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(re.escape(f"{PREFIX}/ui/sign-in")))
    # A page asked for while signed out comes back after signing in, under the prefix.
    page.goto(site.ui("/settings"))
    assert urlsplit(page.url).path == f"{PREFIX}/ui/sign-in"
    page.get_by_label("API key").fill(site.key)
    page.get_by_role("button", name="Sign in with key").click()
    page.wait_for_url(re.compile(re.escape(f"{PREFIX}/ui/settings")))
    # The site's bare prefix and / lead to the UI.
    page.goto(site.base)
    page.wait_for_url(re.compile(re.escape(f"{PREFIX}/ui/requests")))
    assert not network.failed, network.failed


def test_the_api_docs_load_and_call_through_the_prefix(page: Any, site: Site) -> None:
    network = NetworkLog(page)
    page.goto(f"{site.base}/docs")
    page.wait_for_selector(".opblock-tag:has-text('Health')", timeout=30_000)
    assert f"{PREFIX}/openapi.json" in _own_paths(network.requested, site)
    page.locator(".opblock-tag", has_text="Health").first.click()
    page.locator(".opblock-summary-path", has_text="/healthcheck").first.click()
    page.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda response: "/healthcheck" in response.url) as called:
        page.get_by_role("button", name="Execute").click()
    assert urlsplit(called.value.url).path == f"{PREFIX}/healthcheck"
    assert called.value.status == 200
    assert not network.failed, network.failed
    document = httpx.get(f"{site.base}/openapi.json").json()
    assert document["servers"] == [{"url": PREFIX}]


def test_a_proxy_that_keeps_the_prefix_and_the_server_itself(site: Site) -> None:
    """Over HTTP: signing in, its redirects and cookie, a page and an asset through the proxy that
    passes the prefix on (and the one that strips it); the API, signed links and the gateway through
    it and straight to the server, without the prefix."""
    for base in (site.keeping.url + PREFIX, site.base):
        origin = "http://" + urlsplit(base).netloc
        with httpx.Client(base_url=base, headers={"Origin": origin}, timeout=30) as client:
            signed_out = client.get("/ui/requests")
            assert signed_out.status_code == 303
            assert signed_out.headers["location"] == f"{PREFIX}/ui/sign-in?next={PREFIX}/ui/requests"
            form = client.get("/ui/sign-in")
            assert f'action="{PREFIX}/ui/sign-in"' in form.text
            assert f'href="{PREFIX}/static/ui/app.css"' in form.text
            signed_in = client.post(
                "/ui/sign-in", data={"csrf_token": csrf_token(client), "api_key": site.key}
            )
            assert signed_in.status_code == 303, signed_in.text
            assert signed_in.headers["location"] == f"{PREFIX}/ui/requests"
            assert f"Path={PREFIX}/ui" in signed_in.headers["set-cookie"]
            listed = client.get("/ui/requests")
            assert listed.status_code == 200
            assert f'href="{PREFIX}/ui/requests/{site.seeded.request_ids[0]}' in listed.text
            assert client.get("/static/vendor/htmx.org/htmx.min.js").status_code == 200
    # The API and the gateway, through the proxy that keeps the prefix and straight to the server.
    for base in (site.keeping.url + PREFIX, site.server):
        rows = httpx.post(
            f"{base}/v1/request/query", json={"filter": "all", "limit": 1}, headers=auth(site.key)
        )
        assert rows.status_code == 201, rows.text  # Helicone's status for this POST
        [row] = rows.json()["data"]
        # Links the server hands out start with public_url, the proxy's address with the prefix.
        assert row["signed_body_url"].startswith(site.base + "/v1/signed/")
        assert httpx.get(row["signed_body_url"]).status_code == 200
        called = httpx.post(
            f"{base}/v1/gateway/oai/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "through"}]},
            headers={"Authorization": "Bearer sk-test", "Helicone-Auth": f"Bearer {site.key}"},
            timeout=30,
        )
        assert called.status_code == 200, called.text
        assert called.json()["choices"][0]["message"]["content"] == REPLY
    # Straight to the server, the pages still name the prefix (the address people use).
    direct = httpx.get(f"{site.server}/ui/sign-in")
    assert direct.status_code == 200
    assert f'action="{PREFIX}/ui/sign-in"' in direct.text
    # Outside the prefix the proxy has nothing (as nginx outside its location).
    assert httpx.get(f"{site.proxy.url}/ui/sign-in").status_code == 404


@pytest.mark.parametrize("given", ["heliograph", "/a b", "/x//y", "/..", "/x?y=1", "/%41"])
def test_a_bad_root_path_is_refused_before_serving(given: str, tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["serve", "--root-path", given, "--data-dir", str(tmp_path / "data")])
    assert done.exit_code == 2, done.output
    assert "HELIOGRAPH_ROOT_PATH must be a path such as /heliograph" in done.output
    assert not (tmp_path / "data").exists()  # nothing was set up


@pytest.mark.parametrize("given", ["/ui", "/v1", "/v1/heliograph", "/static/", "/healthcheck", "/metrics"])
def test_a_root_path_starting_with_a_path_of_the_server_is_refused(given: str, tmp_path: Path) -> None:
    # Under /v1 a stripping proxy's /v1/request/query would be read as /request/query (a 404), under
    # /ui the UI would be unreachable: refused at start rather than half working.
    done = CliRunner().invoke(cli, ["serve", "--root-path", given, "--data-dir", str(tmp_path / "data")])
    assert done.exit_code == 2, done.output
    assert "a path of the server's own" in done.output
    assert not (tmp_path / "data").exists()


def test_the_refused_first_segments_are_those_of_the_servers_routes(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", metrics_enabled=True))
    segments = set(_first_segments(app.routes)) - {""}
    assert segments == SERVER_SEGMENTS


def _first_segments(routes: list[Any], prefix: str = "") -> Iterator[str]:
    for route in routes:
        path = getattr(route, "path", None)
        if path is not None:
            yield (prefix + path).split("/")[1]
        elif hasattr(route, "original_router"):  # an included router
            router = route.original_router
            yield from _first_segments(router.routes, prefix + router.prefix)
