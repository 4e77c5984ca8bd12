"""Rendering pages and fragments.

Every page is one URL whose state (time range, filters, sort, cursor, the open item) is in its query
string. The server answers the whole page, or, for an htmx request, only the part it swaps: a named
partial when the request targets one (``HX-Target``), else the page's content block. A history-restore
request (htmx lost its snapshot) always gets the whole page.

Autoescaping is on for every template: logged data (prompts, completions, properties) is untrusted
HTML, and no template marks it ``|safe``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from heliograph import __version__
from heliograph.web.identity import url_root

#: What a table shows for a value that is unknown (an en dash).
NONE = "\u2013"


def template_directory() -> Path:
    return Path(str(files("heliograph"))) / "web" / "templates"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_directory()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(usd=format_usd, ms=format_ms, when=format_time, number=format_number, iso=iso_time)
    env.globals.update(version=__version__, query=query_string)
    return env


def is_fragment_request(request: Request) -> bool:
    headers = request.headers
    return headers.get("hx-request") == "true" and not headers.get("hx-history-restore-request")


def targets(request: Request, element_id: str) -> bool:
    """Whether this is an htmx request for the part of a page with id ``element_id`` alone (so the
    page need not read what only its other parts show)."""
    return is_fragment_request(request) and request.headers.get("hx-target") == element_id


def render(
    request: Request,
    template: str,
    *,
    partials: Mapping[str, str] | None = None,
    partial: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The whole page ``template``, or for htmx the partial named by ``HX-Target`` in ``partials``
    (target id -> template), or ``partial`` whatever the target, or else the page's ``content`` block
    alone (the page rendered inside ``fragment.html``)."""
    fragment = is_fragment_request(request)
    name = template
    if fragment and partial:
        name = partial
    elif fragment and partials:
        name = partials.get(request.headers.get("hx-target", ""), template)
    values = {
        "request": request,
        "layout": "fragment.html" if fragment else "layout.html",
        "principal": getattr(request.state, "principal", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "root": url_root(request),
        **context,
    }
    body = environment().get_template(name).render(values)
    response = HTMLResponse(body, status_code=status_code, headers=dict(headers or {}))
    # The same URL answers a page or a fragment: caches must keep them apart.
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


def query_string(base: Mapping[str, Any], **changes: Any) -> str:
    """``?…`` for ``base`` with ``changes`` applied (a None value removes the parameter): links that
    keep every other piece of the page's state."""
    merged = {**base, **changes}
    pairs: list[tuple[str, Any]] = []
    for key, value in merged.items():
        if isinstance(value, list | tuple):
            pairs.extend((key, item) for item in value)
        elif value is not None and value != "":
            pairs.append((key, value))
    return "?" + urlencode(pairs) if pairs else "?"


def format_usd(value: float | int | None) -> str:
    if value is None:
        return NONE
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.6f}".rstrip("0")
    return f"${value:,.4f}".rstrip("0").rstrip(".")


def format_ms(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NONE
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.2f} s"
    return f"{value / 60_000:.1f} min"


def format_number(value: float | int | None) -> str:
    if value is None:
        return NONE
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _as_datetime(value: int | float | str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_time(value: int | float | str | datetime | None) -> str:
    """A time for people (UTC, to the second); epoch milliseconds, ISO text or a datetime."""
    moment = _as_datetime(value)
    return NONE if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso_time(value: int | float | str | datetime | None) -> str:
    """The machine form of the same time, for ``<time datetime=…>``."""
    moment = _as_datetime(value)
    return "" if moment is None else moment.astimezone(UTC).isoformat(timespec="milliseconds")
