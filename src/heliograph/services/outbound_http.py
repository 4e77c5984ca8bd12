"""Posting a JSON body to a URL a user configured (webhooks, alert notifications), and the check of such
a URL before it is stored.

Helicone refuses private destinations silently at delivery time; here the check runs when the
destination is saved, so a user learns at once why it will never be called, and again when it is called.
Private and reserved addresses are refused by default because the server would otherwise call into its
own network on a user's behalf (SSRF), and show the answer in a delivery log; a self-hosted team whose
receiver is on its own network turns them on.

Saving checks the URL as the sender parses it (httpx, with its IDNA and IPv4 forms: ``127.1``,
``2130706433`` and ``0x7f000001`` are loopback too). Sending resolves the host, refuses it if any of
its addresses is not global, and connects to the address it checked (keeping the name for ``Host`` and
TLS), so a name that resolves differently a moment later (DNS rebinding) cannot slip through. The
answer is read up to a bound within one overall deadline, so a receiver can neither hold a worker nor
fill the server's memory.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# httpx is imported where it is used, not here: importing it costs the server ~4 MiB (it loads its
# command-line client, rich with it, when click is installed), which a server whose organizations
# never configure a webhook or an alert should not pay.
if TYPE_CHECKING:
    import httpx

#: Names that resolve inside the server's own network whatever DNS says.
_PRIVATE_NAMES = frozenset({"localhost", "metadata.google.internal"})
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".corp", ".lan", ".home.arpa")
MAX_DESTINATION_CHARS = 2_048
#: An answer is kept for people to read in a delivery log: this much of it is read, the rest dropped.
MAX_ANSWER_BYTES = 16_384
MAX_ANSWER_CHARS = 2_000
_PRIVATE_HINT = "set HELIOGRAPH_ALLOW_PRIVATE_DESTINATIONS=true to deliver inside your own network"


def destination_problem(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a destination, or None. Only http(s) URLs with a host are accepted; private,
    loopback, link-local and reserved hosts only with ``allow_private``."""
    if len(url) > MAX_DESTINATION_CHARS:
        return f"destination: at most {MAX_DESTINATION_CHARS} characters"
    bad = next((char for char in url if char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F), None)
    if bad is not None:
        return f"destination: a URL without spaces or control characters (found {bad!r})"
    import httpx

    try:
        parsed = httpx.URL(url)
        host = parsed.host
    except (httpx.InvalidURL, ValueError) as exc:
        return f"destination is not a valid URL: {exc}"
    if parsed.scheme not in ("http", "https"):
        return "destination must be an http:// or https:// URL"
    if not host:
        return "destination must name a host"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"destination port {parsed.port} is out of range (1 to 65535)"
    if allow_private or not _is_private_host(host):
        return None
    return f"destination host {host!r} is a private or reserved address; {_PRIVATE_HINT}"


def _is_private_host(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name in _PRIVATE_NAMES or name.endswith(_PRIVATE_SUFFIXES):
        return True
    address = _literal_address(name)
    return address is not None and not _is_global(address)


def _literal_address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host written as an address means, in any form the resolver accepts."""
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    try:
        # inet_aton takes the old forms too: 127.1, 2130706433, 0x7f000001, 0177.0.0.1.
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


def _is_global(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return mapped.is_global
        if address in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64: the IPv4 address it carries
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF).is_global
    return address.is_global


@functools.cache
def _tls_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()


def delivery_client() -> httpx.AsyncClient:
    """A client for deliveries. They all share one TLS context, made at the first: building one loads
    the CA bundle (milliseconds of CPU and about 2 MiB), which a server that never delivers should not
    pay, and which should not be paid again for every delivery."""
    import httpx

    return httpx.AsyncClient(verify=_tls_context())


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
    allow_private: bool,
) -> Delivery:
    """POST ``body`` (already serialised: a signature covers these exact bytes) and report the outcome;
    never raises for a refused destination, a network failure, a timeout or a non-2xx answer. The whole
    call, answer included, ends within ``timeout``."""
    import httpx

    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            return await _post(client, url, body, dict(headers or {}), timeout, allow_private, started)
    except TimeoutError:
        return Delivery(None, f"timed out after {timeout:g} s", _since(started))
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Delivery(None, _printable(detail), _since(started))


async def _post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool,
    started: float,
) -> Delivery:
    problem = destination_problem(url, allow_private=allow_private)
    if problem is not None:
        return Delivery(None, problem, 0)
    import httpx

    target = httpx.URL(url)
    extensions: dict[str, Any] = {}
    if not allow_private:
        address = await _checked_address(target)
        if isinstance(address, str):
            return Delivery(None, address, _since(started))
        # Connect to the address just checked; the name stays the Host and the TLS server name.
        headers.setdefault("host", target.netloc.decode("ascii"))
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        target = target.copy_with(host=str(address))
    sent = {"content-type": "application/json", **headers}
    request = client.build_request(
        "POST", target, content=body, headers=sent, timeout=timeout, extensions=extensions
    )
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        kept = bytearray()
        async for chunk in response.aiter_raw():
            kept += chunk[: MAX_ANSWER_BYTES - len(kept)]
            if len(kept) >= MAX_ANSWER_BYTES:
                break
    finally:
        await response.aclose()
    text = _printable(kept.decode("utf-8", errors="replace"))[:MAX_ANSWER_CHARS]
    if 200 <= response.status_code < 300:
        return Delivery(response.status_code, None, _since(started), text)
    error = f"the destination answered {response.status_code} {response.reason_phrase}".rstrip()
    return Delivery(response.status_code, _printable(error), _since(started), text)


async def _checked_address(target: httpx.URL) -> ipaddress.IPv4Address | ipaddress.IPv6Address | str:
    """The first address the host resolves to, or why it is refused (any private address refuses it:
    a name that resolves to one public and one private address could be steered to the private one)."""
    port = target.port or (443 if target.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(target.host, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        return f"destination host {target.host!r} resolves to no address"
    for address in addresses:
        if not _is_global(address):
            return f"destination host {target.host!r} resolves to the private or reserved {address}; {_PRIVATE_HINT}"
    return addresses[0]


def _printable(text: str) -> str:
    """Text safe to store and show: no NUL (PostgreSQL refuses it) nor other control characters but
    tabs and newlines."""
    return "".join(char for char in text if char in "\t\n" or (ord(char) >= 0x20 and ord(char) != 0x7F))


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
