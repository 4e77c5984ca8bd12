"""Server-side LLM calls (LLM-as-judge evaluators, experiment cells) through the gateway's own path, in
process: the call is an ASGI request handed straight to the gateway app, never a network round trip to
ourselves, so it is routed, cached, rate-limited, priced and logged in the organization like any call.

The organization is named in the ASGI scope (``INTERNAL_SCOPE_KEY``), which only code in this process can
set: no temporary API key is minted (Helicone mints one per call). The provider key comes from the
server's own settings, ``HELIOGRAPH_PROVIDER_KEY_<PROVIDER>``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import SecretStr

from heliograph.clock import new_ids
from heliograph.gateway.asgi import Message, Scope
from heliograph.gateway.call import INTERNAL_SCOPE_KEY
from heliograph.gateway.providers import ROUTE_ALIASES, provider_for_route
from heliograph.gateway.proxy import GatewayApp
from heliograph.gateway.routing import GATEWAY_PREFIX
from heliograph.services.evaluators.inputs import EvaluationFailed, LlmReply, ProviderFailed
from heliograph.services.keys import AuthContext
from heliograph.settings import PROVIDER_KEY_PREFIX

ANTHROPIC_VERSION = "2023-06-01"
# A judge's answer is small; a provider error page is cut to this much in the message.
_ERROR_TEXT_CHARS = 500


@dataclass(frozen=True, slots=True)
class InternalCall:
    """What the gateway trusts about an in-process call: whose it is, and the properties to log."""

    auth: AuthContext
    properties: dict[str, str] = field(default_factory=dict)


def key_setting(route: str) -> str:
    """The setting that holds the server's key for a gateway route: ``oai`` -> HELIOGRAPH_PROVIDER_KEY_OPENAI."""
    names = {alias_target: alias for alias, alias_target in ROUTE_ALIASES.items()}
    return f"{PROVIDER_KEY_PREFIX}{names.get(route, route).upper()}"


class GatewayCaller:
    """The :class:`~heliograph.services.evaluators.inputs.LlmCaller` of the running server."""

    def __init__(
        self,
        app: GatewayApp,
        provider_keys: Mapping[str, SecretStr],
        log_written: Callable[[int, uuid.UUID, float], Awaitable[bool]] | None = None,
    ) -> None:
        self._app = app
        self._keys = {name.lower(): key for name, key in provider_keys.items()}
        self._log_written = log_written

    async def logged(self, organization_id: int, request_id: str, timeout: float) -> bool:
        """Wait until the log of a call made here is committed (LogSink.written), so what the caller
        does next (store an experiment output, show the request) finds it; False after ``timeout``."""
        if self._log_written is None:
            return True
        return await self._log_written(organization_id, uuid.UUID(request_id), timeout)

    def _key(self, route: str) -> str:
        aliases = [name for name, target in ROUTE_ALIASES.items() if target == route]
        for name in (route, *aliases):
            if name in self._keys:
                return self._keys[name].get_secret_value()
        raise EvaluationFailed(
            f"no provider key for {route!r}: set {key_setting(route)} in the server's environment"
        )

    async def call(
        self,
        organization_id: int,
        *,
        provider: str,
        path: str,
        body: dict[str, Any],
        properties: dict[str, str],
    ) -> LlmReply:
        found = provider_for_route(provider.lower())
        if found is None or found.route in ("custom", "azure"):
            raise EvaluationFailed(f"unknown provider {provider!r} for a server-side call")
        route = found.route
        headers = [(b"content-type", b"application/json")]
        key = self._key(route)
        if route == "anthropic":
            headers += [(b"x-api-key", key.encode()), (b"anthropic-version", ANTHROPIC_VERSION.encode())]
        else:
            headers.append((b"authorization", f"Bearer {key}".encode()))
        request_id = new_ids()
        headers.append((b"helicone-request-id", str(request_id).encode()))
        auth = AuthContext(organization_id, "", 0, "rw")
        status, raw = await self._send(
            route, path, headers, orjson.dumps(body), InternalCall(auth, properties)
        )
        # Errors name the provider as the caller did ("openai"), not the gateway's route key ("oai").
        shown = provider.lower()
        return LlmReply(_reply_json(status, raw, shown, str(request_id)), str(request_id))

    async def _send(
        self, route: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes, internal: InternalCall
    ) -> tuple[int, bytes]:
        full_path = f"{GATEWAY_PREFIX}{route}{path}"
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": full_path,
            "raw_path": full_path.encode(),
            "query_string": b"",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 0),
            "server": ("127.0.0.1", 0),
            INTERNAL_SCOPE_KEY: internal,
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if sent:
                # Asked again only to watch for a disconnect, which never comes in process.
                await _forever()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)
        return status, b"".join(chunks)


async def _forever() -> None:
    await asyncio.Event().wait()


def _reply_json(status: int, raw: bytes, route: str, request_id: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        parsed = None
    if status >= 400 or status == 0:
        shown = raw.decode("utf-8", "replace")[:_ERROR_TEXT_CHARS] if raw else "(no body)"
        raise ProviderFailed(
            f"the {route} provider answered {status}: {shown}", status=status, request_id=request_id
        )
    if not isinstance(parsed, dict):
        raise EvaluationFailed(
            f"the {route} provider answered {status} with a body that is not a JSON object"
        )
    return parsed
