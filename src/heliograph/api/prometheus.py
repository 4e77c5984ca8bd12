"""``GET /metrics``: operator metrics in Prometheus' text format (services/operator_metrics.py).

Mounted only with ``HELIOGRAPH_METRICS_ENABLED``; otherwise the path is unknown (404). It takes no API
key (a Prometheus server has none, and the figures belong to no organization), but when
``HELIOGRAPH_METRICS_TOKEN`` is set it requires ``Authorization: Bearer <token>``. Left out of the
OpenAPI document, which describes Helicone's API, not the server's operations.
"""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request, Response

from heliograph.api.context import app_context
from heliograph.api.errors import ApiError

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def operator_metrics(request: Request) -> Response:
    context = app_context(request)
    metrics = context.operator_metrics
    if metrics is None:  # pragma: no cover - the route is mounted only with metrics on
        raise ApiError(404, "metrics are off (HELIOGRAPH_METRICS_ENABLED)")
    token = context.settings.metrics_token
    if token is not None and not _bearer_matches(request, token.get_secret_value()):
        raise ApiError(
            401,
            "/metrics needs 'Authorization: Bearer <HELIOGRAPH_METRICS_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # The jobs collector queries the database: not on the event loop.
    body = await asyncio.to_thread(metrics.render)
    return Response(body, media_type=metrics.content_type)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    # Constant time: the comparison must not tell a guesser how much of the token it got right.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())
