"""What the Datasets pages show of a dataset's rows; no routes here.

A Helicone dataset row holds a copy of its request's ``{request, response}`` bodies. It is shown as
the request detail page shows a request: the conversation (``conversation.py``) and the raw JSON of
each body, bounded the same way (``request_detail.raw_json``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from heliograph.services.datasets import PATH_PREFIX
from heliograph.services.errors import NotFound
from heliograph.web.conversation import conversation_of
from heliograph.web.request_detail import error_text, raw_json

#: Rows a page of a dataset shows unless the URL asks for another number.
DEFAULT_ROWS = 25
#: The most rows one page shows: each carries two bodies, so a page stays readable and quick.
MAX_ROWS = 100
PayloadReader = Callable[[str], Any]


def row_token(row: Mapping[str, Any]) -> str:
    """The signed token of a row, from the server-relative link the service gives each row."""
    link = row["signed_url"]["data"]
    return str(link).removeprefix(PATH_PREFIX)


def shown_row(row: Mapping[str, Any], read_payload: PayloadReader) -> dict[str, Any]:
    """A row with its bodies as the page shows them. A row removed since the list was read (another
    tab, another member) shows as gone rather than failing the page."""
    try:
        payload = read_payload(row_token(row))
    except NotFound:
        payload = None
    body = payload if isinstance(payload, dict) else {}
    request_body, response_body = body.get("request"), body.get("response")
    raw_request, request_cut = raw_json(request_body)
    raw_response, response_cut = raw_json(response_body)
    return {
        "id": row["id"],
        "origin_request_id": row["origin_request_id"],
        "created_at": row["created_at"],
        "gone": payload is None,
        "messages": conversation_of(request_body, response_body),
        "error_message": error_text(response_body),
        "raw_request": raw_request,
        "request_cut": request_cut,
        "raw_response": raw_response,
        "response_cut": response_cut,
    }


def paging(offset: int, limit: int, total: int) -> dict[str, Any]:
    """The offsets of the previous and next pages (None where there is none) and what is shown."""
    return {
        "offset": offset,
        "limit": limit,
        # Links leave the default out, so the usual URL stays short.
        "limit_param": None if limit == DEFAULT_ROWS else limit,
        "total": total,
        "first": offset + 1 if total > offset else 0,
        "last": min(offset + limit, total),
        "previous": max(offset - limit, 0) if offset > 0 else None,
        "next": offset + limit if offset + limit < total else None,
    }
