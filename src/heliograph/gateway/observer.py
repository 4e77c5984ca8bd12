"""What the gateway reports to operator metrics (services/operator_metrics.py), called at the points
that already know each value. Unset (None) when metrics are off: the hot path then pays one attribute
check per point."""

from __future__ import annotations

from typing import Protocol

from heliograph.gateway.exchange import Exchange


class GatewayObserver(Protocol):
    def call_logged(self, exchange: Exchange) -> None:
        """A call (or one fallback attempt) ended and its log was handed to the sink."""

    def cache_looked_up(self, hit: bool) -> None:
        """A call that may read the cache looked it up."""

    def rate_limited(self, unit: str) -> None:
        """A call was refused (429) by a rate-limit policy counting ``unit`` (request or cents)."""
