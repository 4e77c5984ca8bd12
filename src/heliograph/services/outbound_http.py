"""Posting a JSON body to a URL a user configured (webhooks, alert notifications), and the check of such
a URL before it is stored.

Helicone refuses private destinations silently at delivery time; here the check runs when the
destination is saved, so a user learns at once why it will never be called. Private and reserved
addresses are refused by default because the server would otherwise call into its own network on a
user's behalf (SSRF); a self-hosted team whose receiver is on its own network turns them on.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

#: Names that resolve inside the server's own network whatever DNS says.
_PRIVATE_NAMES = frozenset({"localhost", "metadata.google.internal"})
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".corp", ".lan", ".home.arpa")
#: An answer body is kept for people to read in a delivery log, not stored whole.
MAX_ANSWER_CHARS = 2_000


def destination_problem(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a destination, or None. Only http(s) URLs with a host are accepted; private,
    loopback, link-local and reserved hosts only with ``allow_private``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        return f"destination is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "destination must be an http:// or https:// URL"
    if not host:
        return "destination must name a host"
    if allow_private or not _is_private(host):
        return None
    return (
        f"destination host {host!r} is a private or reserved address; set "
        "HELIOGRAPH_ALLOW_PRIVATE_DESTINATIONS=true to deliver inside your own network"
    )


def _is_private(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name in _PRIVATE_NAMES or name.endswith(_PRIVATE_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return not address.is_global


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one POST came to: the answer's status (None when no answer came) and, on failure, why."""

    status: int | None
    error: str | None
    duration_ms: int
    answer: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float,
) -> Delivery:
    """POST ``body`` (already serialised: a signature covers these exact bytes) and report the outcome;
    never raises for a network failure, a timeout or a non-2xx answer."""
    sent = {"content-type": "application/json", **(headers or {})}
    started = time.monotonic()
    try:
        answer = await client.post(url, content=body, headers=sent, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return Delivery(None, f"timed out after {timeout:g} s", _since(started))
    except httpx.HTTPError as exc:
        return Delivery(
            None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, _since(started)
        )
    text = answer.text[:MAX_ANSWER_CHARS]
    if 200 <= answer.status_code < 300:
        return Delivery(answer.status_code, None, _since(started), text)
    error = f"the destination answered {answer.status_code} {answer.reason_phrase}".rstrip()
    return Delivery(answer.status_code, error, _since(started), text)


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
