"""The HTTP client the gateway calls providers with.

aiohttp rather than httpx: measured on this machine, it proxies a small JSON call with about a third of
httpx's overhead, and it hands back the body exactly as the provider sent it (no decompression), which
is what lets the gateway pass bytes through unchanged. One pooled session serves every call.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

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
        try:
            return await self.session.request(
                method,
                url,
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
    return [
        (name.lower(), value)
        for name, value in response.raw_headers
        if name.lower().decode("latin-1") not in HOP_BY_HOP
    ]
