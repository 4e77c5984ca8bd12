"""One gateway call while it is handled, and the capture record made from it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from heliograph.gateway.asgi import Scope, Send
from heliograph.gateway.body_rewrite import RequestBody
from heliograph.gateway.exchange import Exchange
from heliograph.gateway.options import GatewayOptions
from heliograph.gateway.replies import Headers
from heliograph.gateway.routing import GatewayPath, Target
from heliograph.services.keys import AuthContext

#: The ASGI scope key of a server-side call made in process (internal_calls.InternalCall).
INTERNAL_SCOPE_KEY = "heliograph.internal_call"


@dataclass(slots=True)
class Call:
    """One gateway call as it is being handled."""

    scope: Scope
    send: Send
    route: GatewayPath
    helicone: dict[str, str]
    forward_headers: list[tuple[str, str]]
    auth: AuthContext | None
    options: GatewayOptions
    target: Target
    fallback_targets: tuple[Target, ...]  # one per Helicone-Fallbacks entry, checked on arrival
    body: RequestBody
    request_id: uuid.UUID
    created_at: int
    start: float
    # Properties a server-side call logs under their exact names (internal_calls.py).
    extra_properties: dict[str, str] = field(default_factory=dict)
    reply_headers: Headers = field(default_factory=list)
    finished: bool = False
    client_gone: bool = False


def call_exchange(call: Call, target: Target | None = None) -> Exchange:
    """A fresh capture record for (one attempt of) ``call``."""
    target = target or call.target
    organization_id = call.auth.organization_id if call.auth is not None else 0
    exchange = Exchange(
        organization_id=organization_id,
        # 0: a server-side call, made with no key (internal_calls.py).
        api_key_id=call.auth.key_id if call.auth is not None and call.auth.key_id else None,
        request_id=call.request_id,
        options=call.options,
        provider=target.provider,
        target_url=target.url + call.route.rest,
        path=call.route.rest,
        request_body=call.body.raw,
        request_json=call.body.parsed,
        is_stream=call.body.is_stream,
        prompt=call.body.prompt,
        created_at=call.created_at,
        start=call.start,
    )
    exchange.extra_properties.update(call.extra_properties)
    return exchange
