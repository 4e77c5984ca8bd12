"""CoalescingTransport: a response head waits for the body's first part, and nothing waits longer than
the current event-loop step. The transport underneath records its writes (it stands in for the
socket, which is outside Heliograph)."""

from __future__ import annotations

import asyncio
from typing import Any

from heliograph.http_server import CoalescingTransport

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
