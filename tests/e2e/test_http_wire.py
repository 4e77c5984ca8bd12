"""HTTP/1.1 on the wire, with raw sockets against `heliograph serve`: keep-alive, ``Connection: close``,
``Expect: 100-continue``, and a complete answer leaving in one write (http_server.py)."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from support.server import RunningServer, serve

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
