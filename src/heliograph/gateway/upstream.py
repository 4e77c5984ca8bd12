"""The gateway's side of calling a provider: URLs, headers and errors, over :mod:`http_client`."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from heliograph.gateway.http_client import HttpClient, Origin, Response, UpstreamError

__all__ = ["HOP_BY_HOP", "Response", "Upstream", "UpstreamError", "passed_on", "response_headers"]

# Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded either way.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Nor are the provider's Date and Server passed on (nginx's proxy leaves them out too): the HTTP server
# (uvicorn) writes its own into every answer, so the client would get two of each.
_NOT_PASSED_ON = frozenset(name.encode() for name in HOP_BY_HOP) | {b"date", b"server"}


class Upstream:
    def __init__(self, *, timeout_s: float, connect_timeout_s: float) -> None:
        self._client = HttpClient(connect_timeout=connect_timeout_s, read_timeout=timeout_s)
        # Split upstream URLs: a gateway calls few distinct URLs, and splitting one costs more than
        # looking it up.
        self._urls: dict[str, tuple[Origin, str]] = {}

    async def close(self) -> None:
        await self._client.close()

    async def send(self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes) -> Response:
        """Send the call and return once the response head arrived; the body is read by the caller.

        The URL's path and query are sent exactly as given (already percent-encoded by the client).
        """
        split = self._urls.get(url)
        if split is None:
            if len(self._urls) >= 4096:
                self._urls.clear()
            split = self._urls[url] = _split(url)
        origin, target = split
        return await self._client.request(method, origin, target, headers, body)


def _split(url: str) -> tuple[Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError(f"not an http(s) URL: {url[:200]!r}", timeout=False)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UpstreamError(f"bad port in {url[:200]!r}", timeout=False) from None
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Origin(parts.scheme, parts.hostname, port), target


def response_headers(response: Response) -> list[tuple[bytes, bytes]]:
    """The provider's headers for the client, minus the hop-by-hop ones, Date and Server."""
    return passed_on(response.raw_headers)


def passed_on(headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` (lower-case names) minus those the client gets from the server, not the provider."""
    return [(name, value) for name, value in headers if name not in _NOT_PASSED_ON]
