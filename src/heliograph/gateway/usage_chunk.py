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
        self._passing = False  # the current event is no usage chunk and is passed on as it arrives
        self._tail = b""  # while passing: the last bytes passed on, to see a blank line split across reads

    def feed(self, chunk: bytes) -> bytes:
        if not (self._held or self._passing) and chunk.endswith(b"\n\n") and _EMPTY_LIST not in chunk:
            return chunk  # whole events, none of them a usage chunk: the usual read
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
        found = _next_event_end(joined, 0)
        if found < 0:
            self._tail = joined[-3:]
            return chunk, b""
        self._passing, self._tail = False, b""
        end = found - (len(joined) - len(chunk))
        return chunk[:end], chunk[end:]


def without_usage_chunk(body: bytes) -> bytes:
    """A whole stream (a cached one) without the usage chunk."""
    usage_filter = UsageChunkFilter()
    return usage_filter.feed(body) + usage_filter.end()


# An event ends at a blank line. Providers end lines with \n or \r\n, so every blank line ends in \n\n
# or \n\r\n; plain searches for those run at memory speed (a regex took 80 us for a 7 KB read).


def _last_event_end(data: bytes, before: int | None = None) -> int:
    """The end of the last blank line in ``data[:before]``; 0 when there is none."""
    lf = data.rfind(b"\n\n", 0, before)
    crlf = data.rfind(b"\n\r\n", 0, before)
    return max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)


def _next_event_end(data: bytes, start: int) -> int:
    """The end of the first blank line in ``data[start:]``; -1 when there is none."""
    lf = data.find(b"\n\n", start)
    crlf = data.find(b"\n\r\n", start)
    ends = [found + length for found, length in ((lf, 2), (crlf, 3)) if found >= 0]
    return min(ends) if ends else -1


def _without_usage_events(block: bytes) -> bytes:
    """``block`` (whole events) without its usage chunks: only events around a ``[]`` are looked at."""
    found = block.find(_EMPTY_LIST)
    if found < 0:
        return block
    kept: list[bytes] = []
    copied = 0
    while found >= 0:
        start = _last_event_end(block, found)
        end = _next_event_end(block, found)
        end = len(block) if end < 0 else end
        if _is_usage_event(block[start:end]):
            kept.append(block[copied:start])
            copied = end
        found = block.find(_EMPTY_LIST, end)
    kept.append(block[copied:])
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
