"""HTTP/1.1 on the wire, with raw sockets against `heliograph serve`: keep-alive, ``Connection: close``,
``Expect: 100-continue``, and a complete answer leaving in one write (http_server.py); a request head
that never ends; and a 500 that leaves the connection usable (the error guard), against an app from
``create_app`` served by uvicorn with the project's protocol in a thread."""

from __future__ import annotations

import dataclasses
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import uvicorn

from heliograph.app import HeliographApp, create_app
from heliograph.http_server import CoalescingHttpProtocol
from heliograph.settings import Settings
from heliograph.storage import migrate
from heliograph.storage.engine import create_engine
from support.raw_http import rss_bytes, send_until_answered
from support.server import RunningServer, free_port, serve

pytestmark = [pytest.mark.e2e, pytest.mark.only_dialects("sqlite")]

HEALTH_BODY = b'{"status":"healthy :)"}'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir: Path = tmp_path_factory.mktemp("wire") / "data"
    with serve(f"sqlite:///{data_dir.parent / 'wire.db'}", data_dir) as running:
        yield running


@pytest.fixture
def connection(server: RunningServer) -> Iterator[socket.socket]:
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        yield sock


def read_response(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """(head, body, bytes after it) of one content-length response."""
    data = buffered
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += _recv(sock)
    return head, rest[:length], rest[length:]


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise AssertionError("the server closed the connection mid-response")
    return chunk


def test_a_whole_answer_arrives_in_one_write(connection: socket.socket) -> None:
    for _ in range(3):
        connection.sendall(b"GET /healthcheck HTTP/1.1\r\nhost: test\r\n\r\n")
        readable, _, _ = select.select([connection], [], [], 10)
        assert readable
        # One write on loopback is one segment: the first read holds the head and the body.
        first = connection.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        assert first.endswith(b"\r\n\r\n" + HEALTH_BODY)


def test_keep_alive_serves_several_requests_on_one_connection(connection: socket.socket) -> None:
    # Pipelined: the second request is sent before the first answer is read.
    connection.sendall(b"GET /healthcheck HTTP/1.1\r\nhost: test\r\n\r\n" * 2)
    head, body, rest = read_response(connection)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == HEALTH_BODY
    head, body, rest = read_response(connection, rest)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == HEALTH_BODY
    assert rest == b""


def test_connection_close_gets_the_whole_answer_then_the_end(connection: socket.socket) -> None:
    connection.sendall(b"GET /healthcheck HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    assert body == HEALTH_BODY


def test_expect_100_continue(server: RunningServer, connection: socket.socket) -> None:
    body = b'{"filter": "all"}'
    connection.sendall(
        b"POST /v1/request/count/query HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {server.key}\r\ncontent-length: {len(body)}\r\n".encode()
        + b"expect: 100-continue\r\n\r\n"
    )
    interim = b""
    while b"\r\n\r\n" not in interim:
        interim += _recv(connection)
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    rest = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
    connection.sendall(body)
    head, answer, _ = read_response(connection, rest)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert answer == b'{"data":0,"error":null}'


def test_a_request_head_that_never_ends_is_refused_with_431(server: RunningServer) -> None:
    before = rss_bytes(server.process.pid)
    head = b"GET /healthcheck HTTP/1.1\r\nhost: test\r\nx-endless: "
    endless = (b"a" * 65536 for _ in range(1024))  # 64 MiB
    answer = send_until_answered(server.url, head, endless)
    assert answer.status == 431
    assert answer.closed
    # Loopback buffers take a few MB before the client blocks; a server reading on would take all.
    assert answer.sent < 16 * 1024 * 1024
    assert rss_bytes(server.process.pid) - before < 16 * 1024 * 1024


# --- a 500 must not break the next request on the connection --------------------------------------


def _raising_gateway(when: str) -> Any:
    """A stand-in for the gateway's ASGI app that fails before answering or after a whole answer."""

    async def gateway(scope: Any, receive: Any, send: Any) -> None:
        if when == "after":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"{}", "more_body": False})
        raise RuntimeError(f"failure {when} the answer")

    return gateway


@dataclasses.dataclass
class ThreadedServer:
    url: str
    app: HeliographApp


@pytest.fixture
def erring(tmp_path: Path) -> Iterator[ThreadedServer]:
    url = f"sqlite:///{tmp_path / 'errors.db'}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    app = create_app(Settings(database_url=url, data_dir=tmp_path / "data"), db=engine)

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("a bug in a route")

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=CoalescingHttpProtocol, log_level="critical"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    try:
        yield ThreadedServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


def _exchange(sock: socket.socket, path: str, rest: bytes = b"") -> tuple[bytes, bytes, bytes]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nhost: test\r\n\r\n".encode())
    return read_response(sock, rest)


def _serve_gateway_with(app: HeliographApp, gateway: Any) -> None:
    assert app.gateway is not None
    app.gateway = dataclasses.replace(app.gateway, app=gateway)
    app.install_edge(app.state.heliograph)


def test_after_a_500_the_next_request_on_the_connection_is_answered(erring: ThreadedServer) -> None:
    address = urlsplit(erring.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        head, body, rest = _exchange(sock, "/test/boom")
        assert head.startswith(b"HTTP/1.1 500 ")
        assert orjson.loads(body) == {"data": None, "error": "internal server error"}
        assert b"connection: close" not in head.lower()
        head, body, rest = _exchange(sock, "/healthcheck", rest)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert body == HEALTH_BODY


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_gateway_failure_keeps_the_connection_usable(erring: ThreadedServer, when: str) -> None:
    _serve_gateway_with(erring.app, _raising_gateway(when))
    address = urlsplit(erring.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        head, body, rest = _exchange(sock, "/v1/gateway/oai/v1/models")
        if when == "before":
            assert head.startswith(b"HTTP/1.1 500 ")
            assert orjson.loads(body)["message"] == "internal server error"
        else:
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert body == b"{}"
        head, body, rest = _exchange(sock, "/healthcheck", rest)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert body == HEALTH_BODY
