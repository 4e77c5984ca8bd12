"""A request body must keep coming, against `heliograph serve` on both databases: clients trickling a
byte now and then (without a key, to /v1/log/request, which reads a body before knowing the caller)
are answered 408 with ``Connection: close`` once the grace has passed, so they cannot hold the places
of the connection limit; a slow client that keeps the minimum rate is served.

The servers here allow a pause of 1 s (``HELIOGRAPH_BODY_TIMEOUT_SECONDS``) and need 500 bytes per
second after it; a trickling client sends a byte every 0.25 s. No time is asserted: the clients keep
trickling until they are answered, for at most a minute.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from support.raw_http import request_head
from support.server import RunningServer, scratch_database, serve

pytestmark = pytest.mark.e2e

MAX_CONNECTIONS = 8
TRICKLE_SECONDS = 0.25
GIVE_UP_SECONDS = 60


@pytest.fixture(scope="module")
def server(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp(f"pace-{dialect}")
    env = {"HELIOGRAPH_BODY_TIMEOUT_SECONDS": "1", "HELIOGRAPH_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    with (
        scratch_database(dialect, directory) as url,
        serve(url, directory / "data", extra_env=env) as running,
    ):
        yield running


def _open(server: RunningServer, path: str, headers: dict[str, str], length: int) -> socket.socket:
    address = urlsplit(server.url)
    sock = socket.create_connection((address.hostname, address.port), timeout=30)
    sock.sendall(request_head(server.url, path, headers, length=length) + b'{"log":')
    return sock


def _trickle_until_answered(socks: list[socket.socket]) -> dict[socket.socket, bytes]:
    """Send a byte on every socket each TRICKLE_SECONDS until each has an answer (or GIVE_UP_SECONDS)."""
    answers: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while len(answers) < len(socks) and time.monotonic() < deadline:
        waiting = [sock for sock in socks if sock not in answers]
        readable, _, _ = select.select(waiting, [], [], TRICKLE_SECONDS)
        for sock in readable:
            answers[sock] = _read_all(sock)
        for sock in waiting:
            if sock not in readable:
                sock.sendall(b" ")
    return answers


NOT_CLOSED = b"<connection left open>"


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    sock.settimeout(10)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        except TimeoutError:
            return data + NOT_CLOSED
        if not chunk:
            return data
        data += chunk


def _health(server: RunningServer) -> int:
    return httpx.get(f"{server.url}/healthcheck", timeout=30).status_code


def _until(condition: Callable[[], bool], attempts: int = 200) -> bool:
    """Poll (the server accepts and closes connections asynchronously); no timing is asserted."""
    for _ in range(attempts):
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_trickling_clients_without_a_key_get_408_and_free_their_places(server: RunningServer) -> None:
    # With these and the health check's own, the limit is reached (uvicorn counts the new one too).
    socks = [_open(server, "/v1/log/request", {}, 1_000_000) for _ in range(MAX_CONNECTIONS - 1)]
    try:
        assert _until(lambda: _health(server) == 503)  # they hold every place of the limit...
        answers = _trickle_until_answered(socks)
    finally:
        for sock in socks:
            sock.close()
    assert len(answers) == len(socks), "trickling clients were never answered"
    for answer in answers.values():
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert b"connection: close" in head.lower()
        assert b"body_timeout_seconds" in body
        assert not body.endswith(NOT_CLOSED)
    assert _until(lambda: _health(server) == 200)  # ...until they are answered and closed


def test_a_trickling_gateway_call_gets_408_in_the_gateways_shape(server: RunningServer) -> None:
    headers = {"helicone-auth": f"Bearer {server.key}"}
    sock = _open(server, "/v1/gateway/oai/v1/chat/completions", headers, 1_000_000)
    with sock:
        answers = _trickle_until_answered([sock])
    assert sock in answers, "the trickling call was never answered"
    head, _, body = answers[sock].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answers[sock][:300]
    assert b"connection: close" in head.lower()
    assert b"not received in time" in body
    assert not body.endswith(NOT_CLOSED)


def test_a_slow_client_at_the_minimum_rate_is_served(server: RunningServer) -> None:
    """1 KiB per second (twice the minimum rate), for 4 s: four times the grace."""
    step = 256
    body = b'{"resourceSpans": []' + b" " * (16 * step - 22) + b"}"
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        auth = {"authorization": f"Bearer {server.key}"}
        sock.sendall(request_head(server.url, "/v1/trace/log", auth, length=len(body)))
        for start in range(0, len(body), step):
            time.sleep(TRICKLE_SECONDS)
            sock.sendall(body[start : start + step])
        answer = _read_until_head(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]


def _read_until_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data
