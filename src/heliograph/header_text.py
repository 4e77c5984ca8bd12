"""The text of an HTTP header value, for the values Heliograph stores (properties, user ids, sessions).

HTTP gives header values as bytes, and ASGI servers and Starlette decode them as Latin-1, so a client
that sends ``Helicone-Property-Name: 日本`` (UTF-8, as every HTTP client that allows it sends it) would
be stored as ``æ\x97¥æ\x9c¬``. Values are read as UTF-8 here, and only bytes that are not valid UTF-8
fall back to Latin-1, one by one, so that no value is ever refused or loses a byte.
"""

from __future__ import annotations

# surrogateescape turns each byte that is not valid UTF-8 into U+DC80..U+DCFF; this maps those to the
# byte's Latin-1 character.
_ESCAPED_TO_LATIN_1 = {0xDC00 + byte: byte for byte in range(0x80, 0x100)}


def header_text(raw: bytes) -> str:
    """``raw`` as UTF-8, with each byte that is not valid UTF-8 read as Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape").translate(_ESCAPED_TO_LATIN_1)


def redecoded(value: str) -> str:
    """A header value a server already decoded as Latin-1, read again as :func:`header_text` would."""
    if value.isascii():
        return value
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value  # not Latin-1 decoded bytes: the caller already has text
    return header_text(raw)
