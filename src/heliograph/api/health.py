"""Liveness route (unauthenticated)."""

from __future__ import annotations

from fastapi import APIRouter

from heliograph.api.envelope import JSONBody
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.response_schemas import Healthcheck

router = APIRouter(tags=["Health"], route_class=JsonBodyRoute)


@router.get("/healthcheck", response_model=Healthcheck)
async def healthcheck() -> JSONBody:
    return JSONBody({"status": "healthy :)"})
