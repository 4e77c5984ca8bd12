"""The request payload document: request body, response body and span attributes in one text.

Layout: ``<request body JSON>\\n<response body JSON>\\n<span attributes JSON>``. JSON text never holds a
raw newline (it is escaped inside strings), so splitting on the first two newlines recovers the parts;
an absent part is the empty string. Stored compressed as one frame, the attributes of an LLM span cost
little on top of the bodies whose prompt and completion they repeat.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUEST, RESPONSE, SPAN_ATTRIBUTES = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Payload:
    request_body: str | None
    response_body: str | None
    span_attributes: str | None


def encode_payload(request_body: str | None, response_body: str | None, span_attributes: str | None) -> str:
    return f"{request_body or ''}\n{response_body or ''}\n{span_attributes or ''}"


def decode_payload(text: str) -> Payload:
    request_body, response_body, span_attributes = [*text.split("\n", 2), "", ""][:3]
    return Payload(request_body or None, response_body or None, span_attributes or None)


def payload_part(text: str | None, part: int) -> str | None:
    """One part (REQUEST, RESPONSE or SPAN_ATTRIBUTES) of a payload text, for SQL functions; an absent
    part is NULL, as a missing body would be."""
    if text is None:
        return None
    decoded = decode_payload(text)
    return (decoded.request_body, decoded.response_body, decoded.span_attributes)[part - 1]
