"""The gateway's HTTP client against scripted local servers: framing, keep-alive, stale connections,
broken and silent servers, TLS."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import uvloop

from heliograph.gateway.http_client import HttpClient, Origin, UpstreamError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Runner = Callable[[Awaitable[None]], None]


@pytest.fixture(params=["asyncio", "uvloop"])
def run_loop(request: pytest.FixtureRequest) -> Runner:
    """Every test runs on both event loops: the server uses uvloop, in-process tests asyncio's."""
    return asyncio.run if request.param == "asyncio" else uvloop.run  # type: ignore[return-value]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


def _answering(raw: bytes) -> Handler:
    """A scripted server that reads one request and writes ``raw`` back as it is."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(raw)
        await writer.drain()

    return handler


def _run(
    handler: Handler, scenario: Callable[[Origin, list[int]], Awaitable[None]], run_loop: Runner
) -> list[int]:
    """Serve ``handler`` on a free port, run ``scenario(origin, connections)``; returns the list of
    connection numbers the server saw (one entry per accepted connection)."""
    connections: list[int] = []

    async def main() -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(len(connections))
            try:
                await handler(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await scenario(Origin("http", "127.0.0.1", port), connections)

    run_loop(main())
    return connections


def _client(read_timeout: float = 5.0) -> HttpClient:
    return HttpClient(connect_timeout=2.0, read_timeout=read_timeout)


async def _keep_alive_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        request = await _read_request(reader)
        body = b"echo:" + request.split(b"\r\n\r\n", 1)[1]
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()


def test_answers_are_read_whole_and_connections_are_reused(run_loop: Runner) -> None:
    async def scenario(origin: Origin, connections: list[int]) -> None:
        client = _client()
        for index in range(3):
            response = await client.request(
                "POST", origin, "/v1/x?a=1", [("content-type", "text/plain")], b"hi%d" % index
            )
            assert response.status == 200
            assert (b"content-type", b"text/plain") in response.raw_headers
            assert await response.read() == b"echo:hi%d" % index
            response.release()
        await client.close()

    assert len(_run(_keep_alive_server, scenario, run_loop)) == 1


def test_the_request_head_carries_host_length_and_the_given_headers(run_loop: Runner) -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client()
        response = await client.request(
            "POST", origin, "/p%2Fq?x=%20", [("authorization", "Bearer k")], b"{}"
        )
        assert response.status == 204
        assert await response.read() == b""
        await client.close()

    _run(handler, scenario, run_loop)
    head = seen[0].decode()
    assert head.startswith("POST /p%2Fq?x=%20 HTTP/1.1\r\n")
    assert "\r\nhost: 127.0.0.1:" in head
    assert "\r\ncontent-length: 2\r\n" in head
    assert "\r\nauthorization: Bearer k\r\n" in head


def test_chunked_answers_stream_piece_by_piece(run_loop: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for event in (b"data: 1\n\n", b"data: 2\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client()
        response = await client.request("POST", origin, "/", [], b"")
        pieces = [piece async for piece in response.iter_chunks()]
        assert pieces == [b"data: 1\n\n", b"data: 2\n\n"]  # each arrived on its own
        response.release()
        await client.close()

    _run(handler, scenario, run_loop)


def test_body_complete_tells_when_the_last_piece_was_taken(run_loop: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"9\r\ndata: 2\n\n\r\n0\r\n\r\n")  # the last piece and the end, together
        await writer.drain()

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client()
        response = await client.request("POST", origin, "/", [], b"")
        assert await response.next_chunk() == b"data: 1\n\n"
        assert not response.body_complete
        assert await response.next_chunk() == b"data: 2\n\n"
        assert response.body_complete
        assert await response.next_chunk() is None
        response.release()
        await client.close()

    _run(handler, scenario, run_loop)


def test_a_body_delimited_by_the_end_of_the_connection(run_loop: Runner) -> None:
    handler = _answering(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client()
        response = await client.request("GET", origin, "/", [], b"")
        assert await response.read() == b"all of it"
        response.release()
        await client.close()

    _run(handler, scenario, run_loop)


def test_head_answers_have_no_body_even_with_a_length(run_loop: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await _read_request(reader)
            if request.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client()
        head = await client.request("HEAD", origin, "/", [], b"")
        assert await head.read() == b""
        head.release()
        after = await client.request("GET", origin, "/", [], b"")  # the connection is still in step
        assert await after.read() == b"ok"
        after.release()
        await client.close()

    assert len(_run(handler, scenario, run_loop)) == 1


def test_a_pooled_connection_the_server_closed_is_replaced_transparently(run_loop: Runner) -> None:
    # Says keep-alive, then closes anyway (as servers do when their idle timeout strikes).
    handler = _answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client()
        for _ in range(3):
            response = await client.request("POST", origin, "/", [], b"x")
            assert await response.read() == b"ok"
            response.release()
            await asyncio.sleep(0.05)  # let the close arrive, or not: both must work
        await client.close()

    assert len(_run(handler, scenario, run_loop)) == 3


def test_a_connection_broken_mid_body_raises(run_loop: Runner) -> None:
    handler = _answering(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client()
        response = await client.request("GET", origin, "/", [], b"")
        with pytest.raises(UpstreamError, match="closed the connection") as raised:
            await response.read()
        assert not raised.value.timeout
        response.release()
        await client.close()

    _run(handler, scenario, run_loop)


def test_a_silent_server_times_out(run_loop: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(2)

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client(read_timeout=0.2)
        with pytest.raises(UpstreamError) as raised:
            await client.request("GET", origin, "/", [], b"")
        assert raised.value.timeout
        await client.close()

    _run(handler, scenario, run_loop)


def test_malformed_answers_and_refused_connections_are_upstream_errors(run_loop: Runner) -> None:
    handler = _answering(b"this is not HTTP\r\n\r\n")

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client()
        with pytest.raises(UpstreamError, match="malformed"):
            await client.request("GET", origin, "/", [], b"")
        await client.close()

    _run(handler, scenario, run_loop)

    async def refused() -> None:
        client = _client()
        with pytest.raises(UpstreamError, match="could not reach") as raised:
            await client.request("GET", Origin("http", "127.0.0.1", 9), "/", [], b"")
        assert not raised.value.timeout

    run_loop(refused())


def test_https_with_a_trusted_certificate(tmp_path: Path, run_loop: Runner) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def main() -> None:
        server = await asyncio.start_server(_keep_alive_server, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        async with server:
            client = HttpClient(connect_timeout=2.0, read_timeout=5.0, tls=trusting)
            response = await client.request("POST", Origin("https", "localhost", port), "/", [], b"secret")
            assert await response.read() == b"echo:secret"
            response.release()
            await client.close()
            untrusting = HttpClient(connect_timeout=2.0, read_timeout=5.0)
            with pytest.raises(UpstreamError, match="could not reach"):
                await untrusting.request("POST", Origin("https", "localhost", port), "/", [], b"x")

    run_loop(main())


def test_a_request_lost_on_a_stale_connection_is_sent_again_on_a_new_one(run_loop: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await _read_request(reader)  # the next request on this connection arrives, and is dropped

    async def scenario(origin: Origin, _connections: list[int]) -> None:
        client = _client()
        for _ in range(3):
            response = await client.request("POST", origin, "/", [], b"x")
            assert await response.read() == b"ok"
            response.release()
        await client.close()

    # Request 1 on connection 0; request 2 is lost on it and resent on 1; request 3 likewise on 2.
    assert len(_run(handler, scenario, run_loop)) == 3
