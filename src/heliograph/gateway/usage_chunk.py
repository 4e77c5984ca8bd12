"""The usage chunk the gateway asked for on a client's behalf, kept out of that client's stream.

The gateway adds ``stream_options.include_usage`` to OpenAI-style streams so that the log gets exact
token counts. The provider then ends the stream with one more event, ``{"choices": [], "usage": {...}}``,
which the client never asked for, and code written against the provider breaks on it (OpenAI's own
``chunk.choices[0].delta`` loop raises IndexError). :class:`UsageChunkFilter` passes every other byte on
unchanged and drops that event; the log still captures the provider's bytes, usage included.

Everything is passed on as it arrives, except the start of an event split across reads, which is held
back until it is clear whether the event is the usage chunk: until its end (SSE events end with a blank
line), its non-empty ``choices`` or ``MAX_HELD`` bytes, whichever comes first. The rest of such an event
then follows as it arrives. An SSE client cannot act on part of an event anyway.
"""

from __future__ import annotations

import re

import orjson

# A usage chunk is a few hundred bytes; holding more than this would only delay an ordinary event.
MAX_HELD = 16_384
# An event ends at a blank line; providers end lines with \n or \r\n.
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# Every usage chunk has ``"choices": []``; a block of events without ``[]`` needs no closer look.
_EMPTY_LIST = b"[]"
# The start of a non-empty ``choices``: an event that has one is no usage chunk. (Inside JSON strings
# quotes are escaped, so ``"choices":`` can only be a key.)
_SOME_CHOICE = re.compile(rb'"choices"\s*:\s*\[\s*[^\s\]]')


class UsageChunkFilter:
    """Feed it the provider's stream in the pieces it arrives in; it returns what the client gets."""

    __slots__ = ("_held", "_passing", "_tail")

    def __init__(self) -> None:
        self._held = b""  # the start of an event whose end has not arrived yet
        self._passing = False  # the current event was too long to hold and is being passed on
        self._tail = b""  # while passing: the last bytes passed on, to see a blank line split across reads

    def feed(self, chunk: bytes) -> bytes:
        passed = b""
        if self._passing:
            passed, chunk = self._pass_rest_of_event(chunk)
            if self._passing or not chunk:
                return passed
        data = self._held + chunk if self._held else chunk
        cut = _last_event_end(data)
        unfinished = data[cut:]
        if unfinished and (len(unfinished) > MAX_HELD or _SOME_CHOICE.search(unfinished)):
            self._held = b""
            self._passing, self._tail = True, unfinished[-3:]
        else:
            self._held, unfinished = unfinished, b""
        return passed + _without_usage_events(data[:cut]) + unfinished

    def end(self) -> bytes:
        """What is left when the stream ends: an unterminated last event, unless it is the usage chunk."""
        held, self._held = self._held, b""
        if not held or self._passing:
            return held
        return b"" if _is_usage_event(held) else held

    def _pass_rest_of_event(self, chunk: bytes) -> tuple[bytes, bytes]:
        """(the bytes up to the end of the event being passed on, the bytes after it)."""
        joined = self._tail + chunk
        found = _BLANK_LINE.search(joined)
        if found is None:
            self._tail = joined[-3:]
            return chunk, b""
        self._passing, self._tail = False, b""
        end = found.end() - (len(joined) - len(chunk))
        return chunk[:end], chunk[end:]


def without_usage_chunk(body: bytes) -> bytes:
    """A whole stream (a cached one) without the usage chunk."""
    usage_filter = UsageChunkFilter()
    return usage_filter.feed(body) + usage_filter.end()


def _last_event_end(data: bytes) -> int:
    # Every blank line ends in \n\n or \n\r\n; 0 when no event ends in ``data``.
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)


def _without_usage_events(block: bytes) -> bytes:
    """``block`` (whole events) without its usage chunks."""
    if _EMPTY_LIST not in block:
        return block
    kept: list[bytes] = []
    start = 0
    for found in _BLANK_LINE.finditer(block):
        event = block[start : found.end()]
        if not _is_usage_event(event):
            kept.append(event)
        start = found.end()
    kept.append(block[start:])
    return b"".join(kept)


def _is_usage_event(event: bytes) -> bool:
    """True for an event whose data is ``{"choices": [], "usage": {...}}`` (plus the usual ids)."""
    if _EMPTY_LIST not in event:
        return False
    data = [line[5:].removeprefix(b" ") for line in event.splitlines() if line.startswith(b"data:")]
    if not data:
        return False
    try:
        value = orjson.loads(b"\n".join(data))
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and value.get("choices") == [] and isinstance(value.get("usage"), dict)
