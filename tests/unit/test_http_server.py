"""CoalescingTransport: a response head waits for the body's first part, and nothing waits longer than
the current event-loop step; and uvicorn's protocol writing through it. The transport underneath
records its writes (it stands in for the socket, which is outside Heliograph)."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from heliograph.http_server import MAX_HEAD_BYTES, CoalescingHttpProtocol, CoalescingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8585) if name == "sockname" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def run(scenario: Any) -> RecordingTransport:
    async def main() -> RecordingTransport:
        raw = RecordingTransport()
        await scenario(CoalescingTransport(raw, asyncio.get_running_loop()), raw)
        return raw

    return asyncio.run(main())


def test_head_and_body_sent_in_one_step_become_one_write() -> None:
    async def scenario(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(HEAD)
        assert raw.writes == []
        transport.write(b"{}")
        assert raw.writes == [HEAD + b"{}"]

    assert run(scenario).writes == [HEAD + b"{}"]


def test_a_head_alone_leaves_when_the_step_ends() -> None:
    async def scenario(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(HEAD)
        await asyncio.sleep(0)
        assert raw.writes == [HEAD]
        transport.write(b"data: 1\n\n")
        assert raw.writes == [HEAD, b"data: 1\n\n"]

    run(scenario)


def test_body_parts_are_written_at_once() -> None:
    async def scenario(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(b"5\r\nhello\r\n")
        transport.write(b"0\r\n\r\n")
        assert raw.writes == [b"5\r\nhello\r\n", b"0\r\n\r\n"]

    run(scenario)


def test_close_sends_the_held_head_first_and_abort_drops_it() -> None:
    async def closing(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(HEAD)
        transport.close()
        assert raw.writes == [HEAD]
        assert raw.closed

    run(closing)

    async def aborting(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(HEAD)
        assert transport.get_write_buffer_size() == len(HEAD)
        transport.abort()
        await asyncio.sleep(0)
        assert raw.writes == []
        assert raw.aborted

    run(aborting)


def test_nothing_is_written_to_a_closing_transport() -> None:
    async def scenario(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        transport.write(HEAD)
        raw.closed = True  # the peer went away
        await asyncio.sleep(0)
        assert raw.writes == []

    run(scenario)


def test_other_transport_methods_are_the_transports_own() -> None:
    async def scenario(transport: CoalescingTransport, raw: RecordingTransport) -> None:
        assert transport.get_extra_info("sockname") == ("127.0.0.1", 8585)
        assert not transport.is_closing()

    run(scenario)


async def _served(app: Any, request: bytes, writes: int) -> list[bytes]:
    """What uvicorn's protocol, writing through the coalescing transport, wrote for ``request``."""
    loop = asyncio.get_running_loop()
    config = uvicorn.Config(app, http=CoalescingHttpProtocol, lifespan="off", log_level="warning")
    protocol = CoalescingHttpProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    raw = RecordingTransport()
    protocol.connection_made(raw)
    protocol.data_received(request)
    for _ in range(1000):
        if len(raw.writes) >= writes:
            break
        await asyncio.sleep(0.001)
    protocol.connection_lost(None)
    return raw.writes


def test_uvicorn_writes_a_whole_answer_at_once() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    writes = asyncio.run(_served(app, b"GET / HTTP/1.1\r\nhost: test\r\n\r\n", 1))
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n{}")


def test_a_stream_leaves_with_its_head_and_ends_with_its_last_part() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await asyncio.sleep(0.01)  # the next event is not there yet
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": False})

    writes = asyncio.run(_served(app, b"GET / HTTP/1.1\r\nhost: test\r\n\r\n", 2))
    assert len(writes) == 2
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n9\r\ndata: 1\n\n\r\n")
    assert writes[1] == b"9\r\ndata: 2\n\n\r\n0\r\n\r\n"


async def _connected(
    protocol_class: type[CoalescingHttpProtocol] = CoalescingHttpProtocol, keep_alive: float = 5
) -> tuple[CoalescingHttpProtocol, RecordingTransport]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app, lifespan="off", log_level="critical", timeout_keep_alive=keep_alive)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    raw = RecordingTransport()
    protocol.connection_made(raw)
    return protocol, raw


async def _until_closed(raw: RecordingTransport) -> None:
    for _ in range(1000):
        if raw.closed:
            return
        await asyncio.sleep(0.001)


def test_a_connection_that_sends_nothing_is_closed_like_an_idle_keep_alive_one() -> None:
    async def scenario() -> None:
        _, raw = await _connected(keep_alive=0.01)
        await _until_closed(raw)
        assert raw.closed
        assert raw.writes == []

    asyncio.run(scenario())


def test_a_request_head_that_trickles_in_gets_408() -> None:
    class Impatient(CoalescingHttpProtocol):
        head_timeout_seconds = 0.01

    async def scenario() -> None:
        protocol, raw = await _connected(Impatient)
        protocol.data_received(b"GET / HTTP/1.1\r\nhost: test\r\n")  # and never the blank line
        await _until_closed(raw)
        assert raw.closed
        assert b"".join(raw.writes).startswith(b"HTTP/1.1 408 ")

        # A head that arrives whole in one read never needed the timer.
        protocol, raw = await _connected(Impatient)
        protocol.data_received(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        assert protocol._head_timer is None
        protocol.connection_lost(None)

    asyncio.run(scenario())


def test_a_request_head_past_the_limit_gets_431_and_a_complete_one_is_served() -> None:
    async def scenario() -> None:
        protocol, raw = await _connected()
        protocol.data_received(b"GET / HTTP/1.1\r\nhost: test\r\nx-big: ")
        for _ in range(MAX_HEAD_BYTES // 8192):
            protocol.data_received(b"a" * 8192)
            assert not raw.closed
        protocol.data_received(b"a" * 8192)
        await asyncio.sleep(0)
        assert raw.closed
        assert b"".join(raw.writes).startswith(b"HTTP/1.1 431 ")

        # A large head under the limit, with its body in the same read, is served.
        protocol, raw = await _connected()
        head = b"POST / HTTP/1.1\r\nhost: test\r\nx-big: " + b"a" * (MAX_HEAD_BYTES // 2)
        protocol.data_received(head + b"\r\ncontent-length: 100000\r\n\r\n" + b"b" * 100_000)
        for _ in range(1000):
            if raw.writes:
                break
            await asyncio.sleep(0.001)
        assert b"".join(raw.writes).startswith(b"HTTP/1.1 200 OK")
        protocol.connection_lost(None)

    asyncio.run(scenario())
