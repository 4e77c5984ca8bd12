"""Settings API route (helicone-api.md section 2.11): what the web UI asks the server about itself,
answered without the ``{data, error}`` envelope, as Helicone does.

The module is not named ``settings.py``: ``heliograph.settings`` is the server's configuration."""

from __future__ import annotations

from fastapi import APIRouter

from heliograph.api.auth import ReadAuth
from heliograph.api.envelope import JSONBody
from heliograph.api.eval_schemas import ExperimentSettings
from heliograph.api.json_body import JsonBodyRoute

router = APIRouter(tags=["Settings"], route_class=JsonBodyRoute)


@router.get("/v1/settings/query", operation_id="GetSettings", response_model=ExperimentSettings)
async def get_settings(auth: ReadAuth) -> JSONBody:
    """``useAzureForExperiment`` is true only on Helicone deployments whose experiments go through an
    Azure override; Heliograph runs experiment calls through its own gateway, so it is always false."""
    del auth  # only the key check matters
    return JSONBody({"useAzureForExperiment": False})
