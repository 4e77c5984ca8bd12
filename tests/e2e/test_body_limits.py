"""Bodies are bounded and callers without a key cost nothing, against `heliograph serve` on both
databases, with raw sockets that send a large body step by step and stop when the server answers.

Without a key (or with a read-only key on a write route) the answer is 401 before the body is read:
the client is still sending, and the server's memory does not move. With a valid key the answer is 413
as soon as the limit is passed (before anything is read when a Content-Length declares more). Past the
connection limit requests get 503, and many clients each sending a large body hold bounded memory. The
budget of buffered bodies counts bytes as they arrive, never as declared, and callers without a key
may hold only their share of it.
"""

from __future__ import annotations

import json
import select
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from heliograph.clock import new_ids, system_clock
from heliograph.services.keys import create_key
from heliograph.storage.engine import create_engine
from support.raw_http import EarlyAnswer, filler, request_head, rss_bytes, send_until_answered
from support.server import RunningServer, scratch_database, serve

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
LIMIT = 4 * MiB  # HELIOGRAPH_MAX_BODY_BYTES of the servers here
UNAUTHENTICATED_LIMIT = MiB  # the default HELIOGRAPH_MAX_UNAUTHENTICATED_BODY_BYTES
BIG = 200 * MiB  # a server that read this would grow by hundreds of MB
# What loopback socket buffers take before a client that nobody reads from blocks: far below BIG.
IN_FLIGHT = 32 * MiB
# RSS may move a little with any request (allocator arenas, caches).
RSS_NOISE = 24 * MiB

# Every kind of route: the REST API (read and write), trace ingest, the async-log routes at the root,
# and the gateway; each with the header its clients send the key in.
ROUTES = {
    "query": ("/v1/request/query-clickhouse", "authorization"),
    "prompt-create": ("/v1/prompt/create", "authorization"),
    "trace": ("/v1/trace/log", "authorization"),
    "async-log": ("/custom/v1/log", "helicone-auth"),
    "log-message": ("/v1/log/request", "authorization"),
    "gateway": ("/v1/gateway/oai/v1/chat/completions", "helicone-auth"),
}
WRITE_ROUTES = ["prompt-create", "trace", "async-log", "log-message", "gateway"]


@dataclass(frozen=True)
class Limited:
    server: RunningServer
    read_only_key: str

    @property
    def pid(self) -> int:
        return self.server.process.pid


def _read_only_key(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        key, _ = create_key(
            engine, organization="default", name="reader", permissions="r", clock=system_clock, ids=new_ids
        )
    finally:
        engine.dispose()
    return key


@pytest.fixture(scope="module")
def limited(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    directory = tmp_path_factory.mktemp(f"limits-{dialect}")
    with (
        scratch_database(dialect, directory) as url,
        serve(url, directory / "data", extra_env={"HELIOGRAPH_MAX_BODY_BYTES": str(LIMIT)}) as server,
    ):
        limited = Limited(server, _read_only_key(url))
        # Warm up (imports, caches, the first database connections) before memory is compared.
        for name in ROUTES:
            send(limited, name, None, chunked=False, size=2 * LIMIT)
            send(limited, name, server.key, chunked=True, size=2 * LIMIT)
        yield limited


def send(limited: Limited, route: str, key: str | None, *, chunked: bool, size: int = BIG) -> EarlyAnswer:
    path, header = ROUTES[route]
    headers = {header: f"Bearer {key}"} if key else {}
    url = limited.server.url
    head = request_head(url, path, headers, length=None if chunked else size)
    return send_until_answered(url, head, filler(size, chunked=chunked))


def assert_answered_early(limited: Limited, answer: EarlyAnswer, rss_before: int) -> None:
    assert answer.sent < IN_FLIGHT, f"the client sent {answer.sent} bytes before the answer"
    assert answer.closed, "the rest of the body must not be read: the connection is closed"
    grown = rss_bytes(limited.pid) - rss_before
    assert grown < RSS_NOISE, f"the server grew by {grown} bytes"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("route", [name for name in ROUTES if name != "log-message"])
def test_without_a_key_the_answer_is_401_before_the_body_is_read(
    limited: Limited, route: str, chunked: bool
) -> None:
    before = rss_bytes(limited.pid)
    answer = send(limited, route, None, chunked=chunked)
    assert answer.status == 401, answer.body
    assert b"missing" in answer.body
    assert_answered_early(limited, answer, before)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_log_message_without_a_header_key_is_read_only_to_the_smaller_limit(
    limited: Limited, chunked: bool
) -> None:
    """/v1/log/request may carry its key in the body, so that body is read, but only so far."""
    before = rss_bytes(limited.pid)
    answer = send(limited, "log-message", None, chunked=chunked)
    assert answer.status == 413, answer.body
    assert f"limit of {UNAUTHENTICATED_LIMIT} bytes".encode() in answer.body
    assert b"Helicone-Auth" in answer.body  # says how to be allowed more
    assert_answered_early(limited, answer, before)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_with_a_key_the_answer_is_413_once_past_the_limit(
    limited: Limited, route: str, chunked: bool
) -> None:
    before = rss_bytes(limited.pid)
    answer = send(limited, route, limited.server.key, chunked=chunked)
    assert answer.status == 413, answer.body
    assert f"limit of {LIMIT} bytes".encode() in answer.body
    assert_answered_early(limited, answer, before)


@pytest.mark.parametrize("route", WRITE_ROUTES)
def test_a_read_only_key_on_a_write_route_is_401_before_the_body_is_read(
    limited: Limited, route: str
) -> None:
    before = rss_bytes(limited.pid)
    answer = send(limited, route, limited.read_only_key, chunked=True)
    assert answer.status == 401, answer.body
    assert b"may not write" in answer.body
    assert_answered_early(limited, answer, before)


def _padded(document: dict[str, object], size: int) -> bytes:
    """``document`` as JSON of ``size`` bytes: whitespace before its closing brace."""
    encoded = json.dumps(document).encode()
    return encoded[:-1] + b" " * (size - len(encoded)) + b"}"


def test_bodies_under_the_limits_are_still_served(limited: Limited) -> None:
    url, key = limited.server.url, limited.server.key
    under = LIMIT - 1000
    bearer = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    query = httpx.post(
        f"{url}/v1/request/query-clickhouse", content=_padded({"filter": "all"}, under), headers=bearer
    )
    assert query.status_code == 201, query.text
    trace = httpx.post(f"{url}/v1/trace/log", content=_padded({"resourceSpans": []}, under), headers=bearer)
    assert trace.status_code == 200, trace.text
    # A log message naming its key only in the body, under the unauthenticated limit.
    message = {
        "authorization": f"Bearer {key}",
        "log": {
            "request": {
                "id": str(uuid.uuid4()),
                "provider": "OPENAI",
                "path": "/v1/chat/completions",
                "requestCreatedAt": "2025-01-01T00:00:00.000Z",
            },
            "response": {"status": 200, "responseCreatedAt": "2025-01-01T00:00:01.000Z", "delayMs": 1000},
        },
    }
    logged = httpx.post(
        f"{url}/v1/log/request",
        content=_padded(message, UNAUTHENTICATED_LIMIT - 1000),
        headers={"content-type": "application/json"},
    )
    assert logged.status_code == 200, logged.text


# --- the connection limit and the process-wide budget ------------------------------------------------

MAX_CONNECTIONS = 16
BUDGET = 2 * LIMIT


@pytest.fixture(scope="module")
def crowded(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    directory = tmp_path_factory.mktemp(f"crowded-{dialect}")
    env = {
        "HELIOGRAPH_MAX_BODY_BYTES": str(LIMIT),
        "HELIOGRAPH_MAX_BUFFERED_BODY_BYTES": str(BUDGET),
        "HELIOGRAPH_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    with scratch_database(dialect, directory) as url, serve(url, directory / "data", extra_env=env) as server:
        yield Limited(server, _read_only_key(url))


def _connect(server: RunningServer) -> socket.socket:
    address = urlsplit(server.url)
    return socket.create_connection((address.hostname, address.port), timeout=30)


def _health(server: RunningServer) -> int:
    return httpx.get(f"{server.url}/healthcheck", timeout=30).status_code


def _until(condition: Callable[[], bool], attempts: int = 200) -> bool:
    """Poll (the server accepts connections asynchronously); no timing is asserted."""
    for _ in range(attempts):
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_past_the_connection_limit_requests_get_503(crowded: Limited) -> None:
    server = crowded.server
    idle = [_connect(server) for _ in range(MAX_CONNECTIONS)]
    for sock in idle:  # a head begun (and never finished) within its time: each holds its place
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nhost: test\r\n")
    try:
        assert _until(lambda: _health(server) == 503), "the connection limit was never reached"
        refused = httpx.get(f"{server.url}/healthcheck", timeout=30)
        assert refused.status_code == 503
    finally:
        for sock in idle:
            sock.close()
    assert _until(lambda: _health(server) == 200), "the server did not recover after the clients left"


def _hold_body(
    server: RunningServer, path: str, headers: dict[str, str], declared: int, sent: bytes, wait: float = 0.5
) -> tuple[socket.socket, int | None]:
    """Declare a ``declared``-byte body and send ``sent`` of it; (the socket, the status if the server
    answered within ``wait`` seconds, -1 if it closed the connection without an answer)."""
    sock = _connect(server)
    sock.sendall(request_head(server.url, path, headers, length=declared))
    sock.setblocking(False)
    remaining = memoryview(sent)
    while remaining:
        readable, writable, _ = select.select([sock], [sock], [], 30)
        if readable:
            break
        assert writable, "the server neither read nor answered"
        try:
            remaining = remaining[sock.send(remaining) :]
        except (BrokenPipeError, ConnectionResetError):
            break
    readable, _, _ = select.select([sock], [], [], wait)
    if not readable:
        return sock, None
    sock.setblocking(True)
    try:
        answer = sock.recv(65536)
    except ConnectionResetError:
        answer = b""
    if not answer:
        return sock, -1
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    return sock, int(answer.split()[1])


def test_many_clients_sending_large_bodies_hold_bounded_memory(crowded: Limited) -> None:
    server = crowded.server
    assert _until(lambda: _health(server) == 200)
    before = rss_bytes(crowded.pid)
    auth = {"authorization": f"Bearer {server.key}"}
    clients = [_hold_body(server, "/v1/trace/log", auth, LIMIT, b"x" * (LIMIT - 1)) for _ in range(40)]
    try:
        held = [sock for sock, status in clients if status is None]
        statuses = {status for _, status in clients if status is not None}
        # Two bodies fill the budget; every other client got 503 (budget or connection limit).
        assert len(held) <= BUDGET // LIMIT
        assert statuses == {503}
        grown = rss_bytes(crowded.pid) - before
        assert grown < BUDGET + RSS_NOISE, f"the server grew by {grown} bytes for {len(clients)} bodies"
    finally:
        for sock, _ in clients:
            sock.close()
    assert _until(lambda: _health(server) == 200)


# --- the budget counts bytes received, and callers without a key have only their share of it --------


def _query(server: RunningServer) -> int:
    answer = httpx.post(
        f"{server.url}/v1/request/query-clickhouse",
        json={"filter": "all"},
        headers={"authorization": f"Bearer {server.key}"},
        timeout=30,
    )
    return answer.status_code


def _close(clients: list[tuple[socket.socket, int | None]]) -> None:
    for sock, _ in clients:
        sock.close()


def test_declared_lengths_spend_nothing_until_their_bytes_arrive(crowded: Limited) -> None:
    """Clients without a key declaring 1 MiB bodies to /v1/log/request (which reads a body without a
    key) and sending one byte: together they declare more than the budget, yet hold a byte each."""
    server = crowded.server
    assert _until(lambda: _health(server) == 200)
    count = BUDGET // UNAUTHENTICATED_LIMIT + 2
    clients = [_hold_body(server, "/v1/log/request", {}, UNAUTHENTICATED_LIMIT, b"{") for _ in range(count)]
    try:
        assert [status for _, status in clients] == [None] * count
        assert _query(server) == 201
        # A whole body of the largest size still fits in the budget: read, and refused as no JSON.
        auth = {"authorization": f"Bearer {server.key}"}
        sock, status = _hold_body(server, "/v1/trace/log", auth, LIMIT, b"x" * LIMIT, wait=30)
        sock.close()
        assert status == 400
    finally:
        _close(clients)


def test_callers_without_a_key_cannot_spend_the_budget_of_those_with_one(crowded: Limited) -> None:
    """Clients without a key each sending all but the last byte of a 1 MiB log message fill only their
    share (a quarter of the budget); the others get 503, and a caller with a key is still served."""
    server = crowded.server
    assert _until(lambda: _health(server) == 200)
    almost = b"{" + b" " * (UNAUTHENTICATED_LIMIT - 2)
    count = BUDGET // UNAUTHENTICATED_LIMIT
    clients = [_hold_body(server, "/v1/log/request", {}, UNAUTHENTICATED_LIMIT, almost) for _ in range(count)]
    try:
        statuses = [status for _, status in clients]
        assert statuses.count(None) == BUDGET // 4 // UNAUTHENTICATED_LIMIT, statuses
        assert set(statuses) <= {None, 503, -1}, statuses
        body = b'{"resourceSpans": []' + b" " * (LIMIT - 100) + b"}"
        stored = httpx.post(
            f"{server.url}/v1/trace/log",
            content=body,
            headers={"authorization": f"Bearer {server.key}", "content-type": "application/json"},
            timeout=30,
        )
        assert stored.status_code == 200, stored.text
    finally:
        _close(clients)
