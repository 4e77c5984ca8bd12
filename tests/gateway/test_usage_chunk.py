"""The usage-chunk filter on its own: whatever pieces a stream arrives in, the client gets the provider's
bytes less the usage chunk the gateway asked for, and bytes that cannot be the usage chunk are not held."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from heliograph.gateway.usage_chunk import MAX_HELD, UsageChunkFilter, without_usage_chunk

BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
USAGE = {"prompt_tokens": 21, "completion_tokens": 6, "total_tokens": 27}


def event(payload: Any, newline: str = "\n") -> bytes:
    return f"data: {json.dumps(payload)}{newline}{newline}".encode()


def content(text: str, newline: str = "\n") -> bytes:
    delta = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    return event({**BASE, "choices": [delta], "usage": None}, newline)


def stream(newline: str = "\n") -> tuple[bytes, bytes]:
    """(what the provider sends with include_usage, what the client gets without it)."""
    # Azure's first chunk has empty choices too, but no usage: it is the provider's, and stays.
    filter_results = event({**BASE, "choices": [], "prompt_filter_results": []}, newline)
    kept = [
        filter_results,
        content("The list is [] ", newline),  # "[]" in the text: the filter looks closer, and keeps it
        content("and done.", newline),
        event({**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, newline),
    ]
    usage = event({**BASE, "choices": [], "usage": USAGE}, newline)
    done = f"data: [DONE]{newline}{newline}".encode()
    return b"".join([*kept, usage, done]), b"".join([*kept, done])


def filtered(pieces: list[bytes]) -> bytes:
    usage_filter = UsageChunkFilter()
    return b"".join(usage_filter.feed(piece) for piece in pieces) + usage_filter.end()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(cuts=st.lists(st.integers(min_value=0), max_size=40), crlf=st.booleans())
def test_any_split_of_the_stream_gives_the_stream_without_the_usage_chunk(
    cuts: list[int], crlf: bool
) -> None:
    sent, expected = stream("\r\n" if crlf else "\n")
    assert filtered(split(sent, cuts)) == expected


def test_byte_by_byte_and_all_at_once() -> None:
    sent, expected = stream()
    assert filtered([sent[i : i + 1] for i in range(len(sent))]) == expected
    assert filtered([sent]) == expected
    assert without_usage_chunk(sent) == expected


def test_the_usage_chunk_arriving_with_done_or_without_a_final_blank_line() -> None:
    usage = event({**BASE, "choices": [], "usage": USAGE})
    assert filtered([content("a"), usage + b"data: [DONE]\n\n"]) == content("a") + b"data: [DONE]\n\n"
    assert filtered([content("a"), usage.rstrip(b"\n")]) == content("a")  # cut off at the very end


def test_usage_on_a_chunk_with_choices_is_kept() -> None:
    # Some providers put usage on the last content chunk: that chunk carries text and must stay.
    delta = {"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}
    with_usage = event({**BASE, "choices": [delta], "usage": USAGE})
    assert filtered([with_usage]) == with_usage


def test_what_cannot_be_the_usage_chunk_is_passed_on_as_it_arrives() -> None:
    usage_filter = UsageChunkFilter()
    whole = content("hello")
    cut = whole.index(b"[{") + 2
    head, tail = whole[:cut], whole[cut:]  # the head already shows a non-empty "choices"
    assert head.endswith(b'"choices": [{')
    assert usage_filter.feed(head) == head
    assert usage_filter.feed(tail) == tail
    # An event whose choices have not shown yet waits for them (or for its end).
    usage_filter = UsageChunkFilter()
    assert usage_filter.feed(whole[:20]) == b""
    assert usage_filter.feed(whole[20:]) == whole


def test_a_long_event_is_not_held_past_the_limit() -> None:
    usage_filter = UsageChunkFilter()
    comment = b": " + b"x" * (MAX_HELD + 10)  # an SSE comment with no choices to tell it apart
    assert usage_filter.feed(comment) == comment
    assert usage_filter.feed(b"yz\n") == b"yz\n"
    # The blank line ending it is split across reads; the next event is filtered again.
    usage = event({**BASE, "choices": [], "usage": USAGE})
    assert usage_filter.feed(b"\n" + usage) == b"\n"
    assert usage_filter.end() == b""


def test_non_sse_bytes_pass_unchanged() -> None:
    body = b'{"choices": [], "usage": {"prompt_tokens": 1}}'  # not an event: no data line
    assert filtered([body]) == body
    assert filtered([b"data: {not json\n\n", b"data: []\n\n"]) == b"data: {not json\n\ndata: []\n\n"
