"""Destinations of webhooks and alerts: every spelling of a private address is refused when saved, a
name that resolves to one is refused when sent, and a receiver can neither hold a delivery past its
deadline nor hand the server more than a bounded answer (or a NUL, which PostgreSQL cannot store)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from heliograph.services.outbound_http import MAX_ANSWER_CHARS, destination_problem, post_json

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0/",
        "http://127。0。0。1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::a00:1]/",
        "http://10.0.0.8/",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:8080/",
        "http://LOCALHOST./",
        "http://db.internal/",
        "http://printer.local/",
    ],
)
def test_private_spellings_are_refused_unless_allowed(url: str) -> None:
    problem = destination_problem(url, allow_private=False)
    assert problem is not None
    assert "private or reserved" in problem
    assert destination_problem(url, allow_private=True) is None


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("https://exa mple.com/", "without spaces"),
        ("https://example.com/\x00", "control characters"),
        ("http://xn--/", "not a valid URL"),
        ("http://ⓛocalhost/", "not a valid URL"),
        ("http:///path", "name a host"),
        ("https://" + "a" * 3000 + ".com/", "at most"),
    ],
)
def test_malformed_destinations_are_refused(url: str, needle: str) -> None:
    problem = destination_problem(url, allow_private=True)
    assert problem is not None
    assert needle in problem


def test_public_destinations_pass() -> None:
    assert destination_problem("https://hooks.example.com/services/T0/B0/x", allow_private=False) is None
    assert destination_problem("http://93.184.216.34:8080/hook", allow_private=False) is None


@asynccontextmanager
async def _receiver(handle: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.close()


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    await reader.readexactly(length)


def test_a_name_that_resolves_to_a_private_address_is_refused_when_sent() -> None:
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        pytest.skip("this machine's name does not resolve")
    if not (address.startswith(("127.", "10.", "192.168.", "172.")) or address == "::1"):
        pytest.skip(f"this machine's name resolves to {address}, which may be public")

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            delivery = await post_json(client, f"http://{name}:9/hook", b"{}", timeout=5, allow_private=False)
        assert delivery.status is None
        assert delivery.error is not None
        assert "resolves to the private or reserved" in delivery.error

    asyncio.run(run())


def test_a_slow_or_huge_answer_is_cut_off() -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.2)

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 50000000\r\n\r\n")
        chunk = b"y" * 65536
        try:
            for _ in range(800):
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass  # the client stopped reading, as it should

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            async with _receiver(drip) as url:
                slow = await post_json(client, url, b"{}", timeout=1.0, allow_private=True)
            assert slow.error == "timed out after 1 s"
            assert slow.duration_ms < 3000
            async with _receiver(huge) as url:
                big = await post_json(client, url, b"{}", timeout=10, allow_private=True)
            assert big.ok
            assert len(big.answer) <= MAX_ANSWER_CHARS

    asyncio.run(run())


def test_an_answer_with_a_nul_is_stored_without_it() -> None:
    async def nul(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nok\x00thanks")
        await writer.drain()
        writer.close()

    async def run() -> None:
        async with httpx.AsyncClient() as client, _receiver(nul) as url:
            delivery = await post_json(client, url, b"{}", timeout=5, allow_private=True)
        assert delivery.ok
        assert delivery.answer == "okthanks"

    asyncio.run(run())
