"""The byte limit of text values that go into an index: one rule on SQLite and PostgreSQL.

PostgreSQL's btree refuses an index entry over 2,704 bytes (a third of an 8 KiB page, less headers);
the whole entry counts, so ``ix_request_properties_lookup`` holds organization + key + value +
created_at, and text that does not compress (random ids, CJK) hits the limit from about 2.7 KB. SQLite
has no such limit. So every text value stored in an indexed column, and the other identifiers the
Request API filters on (session and prompt fields, which later endpoints will index), is at most
``MAX_TEXT_BYTES`` bytes of UTF-8: two of them in one entry (a property key and value) plus the
entry's integers and headers stay under 2,100 bytes, well inside the limit.

Ingest truncates a longer value at a character boundary (the record is stored, only the tail is
lost); the API writes refuse it with a 400 naming the field.
"""

from __future__ import annotations

from typing import Final

#: The most bytes of UTF-8 an indexed text value may hold.
MAX_TEXT_BYTES: Final = 1024
#: A character is at most 4 bytes of UTF-8, so a string this short always fits: the common case costs
#: one len() and never encodes (hot paths test it inline before calling ``truncate``).
ALWAYS_FITS: Final = MAX_TEXT_BYTES // 4


def utf8_length(text: str) -> int:
    # surrogatepass: a lone surrogate is measured (3 bytes) instead of raising here.
    return len(text.encode("utf-8", "surrogatepass"))


def fits(text: str) -> bool:
    """Whether ``text`` is within ``MAX_TEXT_BYTES`` bytes of UTF-8."""
    return len(text) <= ALWAYS_FITS or utf8_length(text) <= MAX_TEXT_BYTES


def truncate(text: str) -> str:
    """``text`` cut to at most ``MAX_TEXT_BYTES`` bytes of UTF-8, never inside a character."""
    if len(text) <= ALWAYS_FITS:
        return text
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_TEXT_BYTES:
        return text
    cut = MAX_TEXT_BYTES
    # Back up over continuation bytes (0b10xxxxxx) to the first byte of the character cut in two.
    while encoded[cut] & 0xC0 == 0x80:
        cut -= 1
    return encoded[:cut].decode("utf-8", "surrogatepass")


def too_long(field: str, text: str) -> str:
    """The message for an API write whose ``field`` holds a value over the limit."""
    return f"{field} must be at most {MAX_TEXT_BYTES} bytes of UTF-8, got {utf8_length(text)}"
