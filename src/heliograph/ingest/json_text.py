"""Bodies as they are stored: compact JSON text, lossless, with no NUL characters.

Every ingestion path stores request and response bodies through these helpers. The payload format
(``storage/payloads.py``) separates its parts with newlines, so a stored body must be JSON without a raw
newline: providers pretty-print their JSON, so bodies are re-encoded compactly; a body that is not
JSON (an SSE stream, plain text) is stored as a JSON string. A body nested deeper than orjson encodes
is stored with its deepest part as text (see ``storage/stored_json.py``), never refused.
"""

from __future__ import annotations

import orjson

from heliograph.storage.stored_json import dumps

__all__ = ["dumps", "strip_nul", "text_as_json"]


def text_as_json(text: str) -> str:
    """``text`` for storage: JSON re-encoded compactly, anything else as a JSON string."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return dumps(orjson.loads(stripped))
        except orjson.JSONDecodeError:
            pass
    return dumps(text)


def strip_nul(text: str) -> str:
    # PostgreSQL text cannot hold NUL; Helicone strips it too.
    return text.replace("\x00", "")
