"""Separate `heliograph serve` processes on one PostgreSQL database (two machines, or workers of one):
they migrate once, lose no acknowledged span when one is killed and restarted, share rate limits
through Redis, accept each other's UI sessions and see each other's key revocations."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from heliograph.clock import new_ids, system_clock
from heliograph.dev.fake_provider import running_fake_provider
from heliograph.services.keys import create_key
from heliograph.services.members import create_member
from heliograph.storage import migrate
from heliograph.storage.engine import create_engine
from support.http import auth
from support.server import scratch_database
from workers.cluster import Load, Server, launch, stopping, stored_span_counts, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.only_dialects("postgresql")]

KEY_CACHE_SECONDS = 1
CSRF_COOKIE = "heliograph_csrf"
ADMIN_PASSWORD = "admin password 1234"


def test_servers_started_together_on_an_empty_database_migrate_and_bootstrap_it_once(
    dialect: str, tmp_path: Path
) -> None:
    with scratch_database(dialect, tmp_path) as url:
        servers = [launch(url, tmp_path / f"data-{number}") for number in range(3)]
        with stopping(servers):
            for server in servers:
                wait_healthy(server)
            logs = [server.log() for server in servers]
        assert sum("Created organization 'default'" in log for log in logs) == 1, logs
        assert not any("Traceback" in log for log in logs), logs
        engine = create_engine(url)
        try:
            assert migrate.current_revision(engine) == migrate.head_revision()
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM organizations")).scalar() == 1
                assert conn.execute(sa.text("SELECT count(*) FROM api_keys")).scalar() == 1
        finally:
            engine.dispose()


def test_a_server_killed_and_restarted_loses_no_acknowledged_span(dialect: str, tmp_path: Path) -> None:
    with scratch_database(dialect, tmp_path) as url:
        first = launch(url, tmp_path / "data")
        servers = [first]
        with stopping(servers):
            wait_healthy(first)
            servers.append(launch(url, tmp_path / "data"))
            wait_healthy(servers[1])
            load = Load(targets=lambda number: servers[number % 2].url, key=first.key())
            with load.clients(4):
                load.wait_for_more(400)
                os.kill(first.process.pid, signal.SIGKILL)
                first.process.wait(10)
                load.wait_for_more(200)  # the other server keeps acknowledging meanwhile
                servers[0] = launch(url, tmp_path / "data", port=first.port)
                wait_healthy(servers[0])
                load.wait_for_more(600)
        spans, calls = stored_span_counts(url)
        lost = [
            span_id for span_id in load.acknowledged if spans.get(span_id) != 1 or calls.get(span_id) != 1
        ]
        assert not lost, f"{len(lost)} of {len(load.acknowledged)} acknowledged spans not stored exactly once"
        assert set(spans.values()) == {1}


@dataclass
class Pair:
    one: Server
    two: Server
    key: str
    database_url: str


@pytest.fixture(scope="module")
def pair(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two servers on one database and one data dir (as the workers of one machine), sharing Redis."""
    directory = tmp_path_factory.mktemp("pair")
    prefix = f"heliograph-test:{uuid.uuid4().hex[:12]}:"
    redis_url = os.environ.get("HELIOGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    with running_fake_provider() as fake, scratch_database(dialect, directory) as url:
        env = {
            "HELIOGRAPH_REDIS_URL": redis_url,
            "HELIOGRAPH_REDIS_KEY_PREFIX": prefix,
            "HELIOGRAPH_PROVIDER_URL_OPENAI": fake.url,
            "HELIOGRAPH_KEY_CACHE_SECONDS": str(KEY_CACHE_SECONDS),
        }
        servers: list[Server] = []
        with stopping(servers):
            for _ in range(2):
                servers.append(launch(url, directory / "data", extra_env=env))
                wait_healthy(servers[-1])
            yield Pair(servers[0], servers[1], servers[0].key(), url)
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _chat(server: Server, key: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/gateway/oai/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer sk-test", "Helicone-Auth": f"Bearer {key}", **headers},
        timeout=30,
    )


def test_a_rate_limit_holds_across_servers_sharing_redis(pair: Pair) -> None:
    headers = {"Helicone-RateLimit-Policy": "3;w=60;s=user", "Helicone-User-Id": f"u-{uuid.uuid4().hex}"}
    statuses = [_chat(server, pair.key, headers).status_code for server in [pair.one, pair.two] * 4]
    # Three calls in all, not three per server.
    assert statuses == [200, 200, 200, 429, 429, 429, 429, 429]


def _sign_in(client: httpx.Client, server: Server, **fields: str) -> None:
    """Sign in through the form (``api_key=...``, or ``email=...`` and ``password=...``)."""
    client.get(f"{server.url}/ui/sign-in")
    answer = client.post(
        f"{server.url}/ui/sign-in",
        data={"csrf_token": client.cookies.get(CSRF_COOKIE) or "", **fields},
        headers={"Origin": server.url},
    )
    assert answer.status_code == 303, answer.text


def test_a_ui_session_from_one_server_works_on_the_other(pair: Pair) -> None:
    with httpx.Client(timeout=30) as browser:
        _sign_in(browser, pair.one, api_key=pair.key)
        page = browser.get(f"{pair.two.url}/ui/requests")
        assert page.status_code == 200
        assert "/ui/sign-in" not in str(page.url)
        # A form signed with the session's CSRF token is taken by the other server too.
        out = browser.post(
            f"{pair.two.url}/ui/sign-out",
            data={"csrf_token": browser.cookies.get(CSRF_COOKIE) or ""},
            headers={"Origin": pair.two.url},
        )
        assert out.status_code == 303, out.text


def _count(server: Server, key: str) -> int:
    answer = httpx.post(
        f"{server.url}/v1/request/count/query", json={"filter": "all"}, headers=auth(key), timeout=30
    )
    return answer.status_code


def test_a_key_revoked_through_one_server_is_refused_by_the_other(pair: Pair) -> None:
    engine = create_engine(pair.database_url)
    try:
        victim, row = create_key(
            engine,
            organization="default",
            name="victim",
            permissions="rw",
            clock=system_clock,
            ids=new_ids,
        )
        # Keys are managed by admins; signing in with a key makes a member.
        admin = create_member(
            engine,
            organization="default",
            email="ops@example.com",
            role="admin",
            password=ADMIN_PASSWORD,
            clock=system_clock,
            ids=new_ids,
        )
    finally:
        engine.dispose()
    assert _count(pair.one, victim) == 200  # now trusted by server one's key cache
    with httpx.Client(timeout=30) as browser:
        _sign_in(browser, pair.two, email=admin.email, password=ADMIN_PASSWORD)
        revoked = browser.post(
            f"{pair.two.url}/ui/settings/keys/{row.id}/revoke",
            data={"csrf_token": browser.cookies.get(CSRF_COOKIE) or ""},
            headers={"Origin": pair.two.url},
        )
        assert revoked.status_code == 303, revoked.text
    assert _count(pair.two, victim) == 401
    # Server one refuses it once its cached answer expires (key_cache_seconds, documented), with a
    # generous margin for this busy machine: the test proves the refusal, not the speed.
    deadline = time.monotonic() + KEY_CACHE_SECONDS + 30
    while _count(pair.one, victim) != 401:
        assert time.monotonic() < deadline, "server one kept accepting a key revoked through server two"
        time.sleep(0.2)
