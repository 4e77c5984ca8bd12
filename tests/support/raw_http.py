"""A raw-socket HTTP/1.1 client that sends a large body while watching for an early answer.

HTTP clients send the whole body before they read the answer, so they cannot show that a server
answered before reading it; this one sends in small steps and stops as soon as the answer arrives.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

STEP = 64 * 1024
WAIT_SECONDS = 30


@dataclass(frozen=True)
class EarlyAnswer:
    status: int
    head: bytes
    body: bytes
    sent: int  # body bytes the client got out before the answer (or the end of the connection)
    closed: bool  # whether the server closed the connection after the answer


def request_head(
    url: str, path: str, headers: dict[str, str], *, length: int | None, method: str = "POST"
) -> bytes:
    host = urlsplit(url).netloc
    lines = [f"{method} {path} HTTP/1.1", f"host: {host}", "content-type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def filler(total: int, *, chunked: bool) -> Iterator[bytes]:
    """A JSON object of ``total`` bytes (``{"pad": "xxx..."}``), in steps, chunk-framed if asked."""
    opening, closing = b'{"pad": "', b'"}'
    parts = [opening]
    remaining = total - len(opening) - len(closing)
    while remaining > 0:
        size = min(STEP, remaining)
        parts.append(b"x" * size)
        remaining -= size
        yield from _frame(parts, chunked)
        parts = []
    yield from _frame([*parts, closing], chunked)
    if chunked:
        yield b"0\r\n\r\n"


def _frame(parts: list[bytes], chunked: bool) -> Iterator[bytes]:
    data = b"".join(parts)
    if data:
        yield b"%x\r\n%s\r\n" % (len(data), data) if chunked else data


def send_until_answered(url: str, head: bytes, body: Iterator[bytes]) -> EarlyAnswer:
    """Send ``head`` then ``body`` step by step; stop when the server answers, and read its answer."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=WAIT_SECONDS) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        sent = 0
        pending = b""
        for step in body:
            pending += step
            while pending:
                readable, writable, _ = select.select([sock], [sock], [], WAIT_SECONDS)
                if readable:
                    return _read_answer(sock, sent)
                assert writable, "the server neither read nor answered"
                try:
                    count = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    return _read_answer(sock, sent)
                pending = pending[count:]
                sent += count
        return _read_answer(sock, sent)


def _read_answer(sock: socket.socket, sent: int) -> EarlyAnswer:
    sock.setblocking(True)
    data = b""
    closed = False
    while True:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            length = _content_length(data[:head_end])
            if len(data) >= head_end + 4 + length:
                break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            closed = True
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), f"no answer, got {data[:200]!r}"
    if not closed:
        closed = _closed_soon(sock)
    return EarlyAnswer(int(head.split()[1]), head, rest, sent, closed)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _closed_soon(sock: socket.socket) -> bool:
    sock.settimeout(2)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@contextlib.contextmanager
def open_connection(url: str) -> Iterator[socket.socket]:
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=WAIT_SECONDS) as sock:
        yield sock
