"""The providers the gateway forwards to, and how a target URL is named and checked.

Routes are ``/v1/gateway/<route>/...``: the route picks a provider and its base URL, the rest of the
path is forwarded unchanged (reference helicone-gateway.md §1.1). ``custom`` takes its upstream from
``Helicone-Target-Url`` and ``azure`` from ``Helicone-OpenAI-Api-Base``; those URLs must pass the
host allow-list, so the gateway cannot be turned into an open proxy onto the internal network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Provider:
    route: str
    name: str  # Helicone's provider enum, which the ``provider`` column stores
    base_url: str  # "" when the upstream comes from a request header
    # Accepts ``stream_options.include_usage`` on chat/completions streams, so usage can be injected.
    openai_style: bool


PROVIDERS: dict[str, Provider] = {
    provider.route: provider
    for provider in (
        Provider("oai", "OPENAI", "https://api.openai.com", True),
        Provider("anthropic", "ANTHROPIC", "https://api.anthropic.com", False),
        Provider("groq", "GROQ", "https://api.groq.com", True),
        Provider("together", "TOGETHER", "https://api.together.xyz", True),
        # Mistral and Perplexity put usage in their last chunk by default and reject unknown options.
        Provider("mistral", "MISTRAL", "https://api.mistral.ai", False),
        Provider("deepseek", "DEEPSEEK", "https://api.deepseek.com", True),
        Provider("x", "X", "https://api.x.ai", True),
        Provider("openrouter", "OPENROUTER", "https://openrouter.ai", True),
        Provider("fireworks", "FIREWORKS", "https://api.fireworks.ai", True),
        Provider("perplexity", "PERPLEXITY", "https://api.perplexity.ai", False),
        Provider("cerebras", "CEREBRAS", "https://api.cerebras.ai", True),
        Provider("deepinfra", "DEEPINFRA", "https://api.deepinfra.com", True),
        Provider("google", "GOOGLE", "https://generativelanguage.googleapis.com", False),
        Provider("azure", "AZURE", "", True),
        Provider("custom", "CUSTOM", "", False),
    )
}
# Other spellings users reach for; "openai" is what the setting names (HELIOGRAPH_PROVIDER_URL_OPENAI).
ROUTE_ALIASES = {"openai": "oai", "gemini": "google", "xai": "x"}

# Helicone's URL -> provider patterns (packages/cost/providers/mappings.ts), first match wins.
_INFERENCE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"^https://api\.openai\.com", "OPENAI"),
        (r"^https://api\.anthropic\.com", "ANTHROPIC"),
        (
            r"^(https?://)?([^.]*\.)?(openai\.azure\.com|azure-api\.net|cognitiveservices\.azure\.com"
            r"|services\.ai\.azure\.com)",
            "AZURE",
        ),
        (r"^https://api\.llama\.com", "LLAMA"),
        (r"^https://integrate\.api\.nvidia\.com", "NVIDIA"),
        (r"^https://api\.tokenfactory\.nebius\.com", "NEBIUS"),
        (r"^http://127\.0\.0\.1:\d+/v\d+", "LOCAL"),
        (r"^https://(oai\.hconeai\.com|inference\.helicone\.ai)", "HELICONE"),
        (r"^https://api\.endpoints\.anyscale\.com", "ANYSCALE"),
        (r"^https://gateway\.ai\.cloudflare\.com", "CLOUDFLARE"),
        (r"^https://api\.x\.ai", "X"),
        (r"^https://api\.together\.xyz", "TOGETHER"),
        (r"^https://api\.lemonfox\.ai", "LEMONFOX"),
        (r"^https://api\.fireworks\.ai", "FIREWORKS"),
        (r"^https://api\.perplexity\.ai", "PERPLEXITY"),
        (r"^https://([^/]*\.)?googleapis\.com", "GOOGLE"),
        (r"^https://(api\.)?openrouter\.ai", "OPENROUTER"),
        (r"^https://api\.groq\.com", "GROQ"),
        (r"^https://api\.cohere\.ai", "COHERE"),
        (r"^https://api\.mistral\.ai", "MISTRAL"),
        (r"^https://api\.deepinfra\.com", "DEEPINFRA"),
        (r"^https://bedrock-runtime\.[a-z0-9-]+\.amazonaws\.com", "AWS"),
        (r"^https://api\.deepseek\.com", "DEEPSEEK"),
        (r"^https://api\.novita\.ai", "NOVITA"),
        (r"^https://(llm\.)?chutes\.com", "CHUTES"),
        (r"^https://ai-gateway\.vercel\.sh", "VERCEL"),
        (r"^https://api\.cerebras\.ai", "CEREBRAS"),
    )
)
_AZURE = _INFERENCE[2][0]

# Loopback, the providers above and Azure's resource hosts: the default Helicone-Target-Url allow-list.
DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = (
    "localhost",
    "127.0.0.1",
    "::1",
    *sorted({urlsplit(p.base_url).hostname or "" for p in PROVIDERS.values() if p.base_url}),
    "*.openai.azure.com",
    "*.azure-api.net",
    "*.cognitiveservices.azure.com",
    "*.services.ai.azure.com",
    "*.googleapis.com",
    "api.llama.com",
    "integrate.api.nvidia.com",
    "api.tokenfactory.nebius.com",
    "api.novita.ai",
    "ai-gateway.vercel.sh",
    "api.cohere.ai",
)


class TargetError(ValueError):
    """A target URL the gateway refuses (400)."""


def provider_for_route(route: str) -> Provider | None:
    return PROVIDERS.get(ROUTE_ALIASES.get(route, route))


def resolve_base_urls(overrides: Mapping[str, str]) -> dict[str, str]:
    """Base URL per route, with ``HELIOGRAPH_PROVIDER_URL_<NAME>`` overrides applied."""
    urls = {route: provider.base_url for route, provider in PROVIDERS.items()}
    for name, url in overrides.items():
        route = ROUTE_ALIASES.get(name.lower(), name.lower())
        if route not in PROVIDERS:
            raise ValueError(f"HELIOGRAPH_PROVIDER_URL_{name.upper()}: no provider route named {name!r}")
        urls[route] = url.rstrip("/")
    return urls


def infer_provider(target_url: str) -> str:
    """Helicone's provider name for a target; an unknown target is named by its lower-cased URL."""
    lowered = target_url.lower()
    for pattern, name in _INFERENCE:
        if pattern.search(lowered):
            return name
    return lowered


def is_azure_base(url: str) -> bool:
    return _AZURE.search(url.lower()) is not None


class HostAllowList:
    """Exact host names and ``*.suffix`` wildcards; ``*`` alone allows every host."""

    def __init__(self, patterns: Iterable[str]) -> None:
        cleaned = [p.strip().lower().strip("[]") for p in patterns if p.strip()]
        self._any = "*" in cleaned
        self._exact = {p for p in cleaned if not p.startswith("*.")}
        self._suffixes = tuple(p[1:] for p in cleaned if p.startswith("*."))

    def allows(self, host: str) -> bool:
        host = host.lower().strip("[]")
        return self._any or host in self._exact or host.endswith(self._suffixes)


def checked_target(url: str, allow: HostAllowList, header: str) -> str:
    """``url`` without a trailing slash, after checking its scheme and host; raises TargetError."""
    if not url.isascii():
        # A request line carries bytes, not text: the client says how its characters are encoded.
        raise TargetError(f"{header} must be ASCII (percent-encode other characters), got {url[:200]!r}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{header} must be an absolute http(s) URL, got {url[:200]!r}")
    if not allow.allows(parts.hostname):
        raise TargetError(
            f"{header} host {parts.hostname!r} is not on the gateway allow-list "
            "(setting HELIOGRAPH_GATEWAY_ALLOWED_HOSTS)"
        )
    if parts.query or parts.fragment:
        raise TargetError(f"{header} must not carry a query or fragment")
    return url.strip().rstrip("/")
