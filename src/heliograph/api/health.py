"""Liveness route (unauthenticated)."""

from __future__ import annotations

from fastapi import APIRouter

from heliograph.api.envelope import JSONBody

router = APIRouter(tags=["Health"])


@router.get("/healthcheck")
async def healthcheck() -> JSONBody:
    return JSONBody({"status": "healthy :)"})
