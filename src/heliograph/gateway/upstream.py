"""The HTTP client the gateway calls providers with.

aiohttp rather than httpx: measured on this machine, it proxies a small JSON call with about a third of
httpx's overhead, and it hands back the body exactly as the provider sent it (no decompression), which
is what lets the gateway pass bytes through unchanged. One pooled session serves every call.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
import yarl

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
_HOP_BY_HOP_BYTES = frozenset(name.encode() for name in HOP_BY_HOP)
# aiohttp would add these when the client did not send them; a faithful proxy adds nothing.
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class UpstreamError(Exception):
    """The provider could not be reached or did not answer in time."""

    def __init__(self, message: str, *, timeout: bool) -> None:
        super().__init__(message)
        self.timeout = timeout


class Upstream:
    def __init__(self, *, timeout_s: float, connect_timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_s, sock_connect=connect_timeout_s, sock_read=timeout_s
        )
        self._session: aiohttp.ClientSession | None = None
        # Parsed upstream URLs: a gateway calls few distinct URLs, and parsing one costs more than
        # looking it up.
        self._urls: dict[str, yarl.URL] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Created on first use, inside the running loop; limit=0: the provider sets the limits.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                auto_decompress=False,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> aiohttp.ClientResponse:
        """Send the call and return once the response head arrived; the body is read by the caller."""
        target = self._urls.get(url)
        if target is None:
            if len(self._urls) >= 4096:
                self._urls.clear()
            # encoded=True: the path is forwarded exactly as the client percent-encoded it.
            target = self._urls[url] = yarl.URL(url, encoded=True)
        try:
            return await self.session.request(
                method,
                target,
                data=body if body or method not in ("GET", "HEAD") else None,
                headers=list(headers),
                skip_auto_headers=_NO_AUTO_HEADERS,
                allow_redirects=False,
                compress=None,
            )
        except TimeoutError as exc:
            raise UpstreamError("the provider did not answer in time", timeout=True) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"could not reach the provider: {exc}", timeout=False) from exc


def response_headers(response: aiohttp.ClientResponse) -> list[tuple[bytes, bytes]]:
    """The provider's headers for the client, minus the hop-by-hop ones."""
    headers = []
    for name, value in response.raw_headers:
        lowered = name.lower()
        if lowered not in _HOP_BY_HOP_BYTES:
            headers.append((lowered, value))
    return headers
