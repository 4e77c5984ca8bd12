"""From a gateway path and its headers to the upstream URL (reference helicone-gateway.md §1.1-1.3).

``/v1/gateway/<route>[/<key>]/<rest>`` forwards to ``<base of route><rest>?<query>``. A path segment that
is an API key (Helicone lets clients that cannot set headers put it there) is taken out of the path.
"""

from __future__ import annotations

from dataclasses import dataclass

from heliograph.gateway.options import GatewayOptions
from heliograph.gateway.providers import (
    HostAllowList,
    Provider,
    TargetError,
    checked_target,
    infer_provider,
    is_azure_base,
    provider_for_route,
)

GATEWAY_PREFIX = "/v1/gateway/"
_KEY_PREFIXES = ("sk-heliograph-", "sk-helicone", "pk-helicone")


class RouteError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class GatewayPath:
    provider: Provider
    rest: str  # the path forwarded upstream, starting with "/"
    path_key: str | None  # an API key found in the path


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # base URL, no trailing slash
    provider: str  # the name the log stores


def parse_path(path: str) -> GatewayPath:
    """Split ``/v1/gateway/<route>/...``; raises RouteError(404) for an unknown route."""
    route, _, rest = path[len(GATEWAY_PREFIX) :].partition("/")
    provider = provider_for_route(route.lower())
    if provider is None:
        raise RouteError(404, f"unknown gateway route {route!r}; see docs/gateway.md for the providers")
    path_key = None
    first, _sep, remainder = rest.partition("/")
    if first.startswith(_KEY_PREFIXES):
        path_key, rest = first, remainder
    return GatewayPath(provider, "/" + rest, path_key)


def resolve_target(
    route: GatewayPath, options: GatewayOptions, base_urls: dict[str, str], allow: HostAllowList
) -> Target:
    """The upstream base URL and provider name; raises RouteError(400) for a refused target."""
    provider = route.provider
    try:
        if provider.route == "custom":
            if not options.target_url:
                raise RouteError(400, "the custom gateway route needs a Helicone-Target-Url header")
            url = checked_target(options.target_url, allow, "Helicone-Target-Url")
            return Target(url, infer_provider(url))
        if options.openai_api_base and provider.route in ("oai", "azure"):
            return _azure(options.openai_api_base, allow, provider.route)
        if provider.route == "azure":
            if base_urls.get("azure"):
                return Target(base_urls["azure"], "AZURE")
            raise RouteError(400, "the azure gateway route needs a Helicone-OpenAI-Api-Base header")
    except TargetError as exc:
        raise RouteError(400, str(exc)) from None
    return Target(base_urls[provider.route], provider.name)


def fallback_target(url: str, allow: HostAllowList) -> Target:
    try:
        checked = checked_target(url, allow, "Helicone-Fallbacks target-url")
    except TargetError as exc:
        raise RouteError(400, str(exc)) from None
    return Target(checked, infer_provider(checked))


def _azure(base: str, allow: HostAllowList, route: str) -> Target:
    url = checked_target(base, allow, "Helicone-OpenAI-Api-Base")
    # Helicone answers a non-Azure base with a 500; any allowed host works here. The azure route is
    # Azure by choice (a private endpoint or an API gateway in front of it); on oai the host decides.
    return Target(url, "AZURE" if route == "azure" or is_azure_base(url) else infer_provider(url))


def upstream_url(target: Target, rest: str, query: bytes) -> str:
    # Unlike Helicone, a path in the target URL is kept as a prefix (e.g. https://api.groq.com/openai).
    url = target.url + rest
    return f"{url}?{query.decode('latin-1')}" if query else url
