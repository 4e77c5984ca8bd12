"""Seeding exact requests for the analytics tests, through Helicone's log message (``POST /v1/log/request``):
it sets every value the analytics read (time, model, user, session, properties, tokens, cost, latency,
time to first token, status, country, threat) as given, so answers can be checked to the unit."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from support.http import auth

# A fixed instant for seeded data: 2026-03-10 (a Tuesday) 00:00:00 UTC.
BASE_MS = 1_773_100_800_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def iso(ms: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Call:
    """One logged LLM call; ``at`` is epoch ms of the request."""

    at: int
    model: str = "gpt-4o"
    provider: str = "OPENAI"
    user: str | None = None
    session: str | None = None
    session_name: str | None = None
    session_path: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 10
    completion_tokens: int = 5
    cost: float = 0.001
    latency: int = 100
    ttft: int | None = None
    status: int = 200
    country: str | None = None
    threat: bool | None = None
    cache_enabled: bool = False
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def message(self, key: str) -> dict[str, Any]:
        properties = dict(self.properties)
        for name, value in (
            ("Helicone-Session-Id", self.session),
            ("Helicone-Session-Name", self.session_name),
            ("Helicone-Session-Path", self.session_path),
        ):
            if value is not None:
                properties[name] = value
        request: dict[str, Any] = {
            "id": self.id,
            "provider": self.provider,
            "requestCreatedAt": iso(self.at),
            "properties": properties,
            "cacheEnabled": self.cache_enabled,
        }
        if self.user is not None:
            request["userId"] = self.user
        if self.country is not None:
            request["countryCode"] = self.country
        if self.threat is not None:
            request["threat"] = self.threat
        response: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "model": self.model,
            "delayMs": self.latency,
            "responseCreatedAt": iso(self.at + self.latency),
            "promptTokens": self.prompt_tokens,
            "completionTokens": self.completion_tokens,
            "cost": self.cost,
        }
        if self.ttft is not None:
            response["timeToFirstToken"] = self.ttft
        return {"authorization": f"Bearer {key}", "log": {"request": request, "response": response}}


def log_calls(client: TestClient, key: str, calls: list[Call]) -> None:
    for call in calls:
        response = client.post("/v1/log/request", json=call.message(key), headers=auth(key))
        assert response.status_code == 200, response.text


def post(client: TestClient, key: str, path: str, body: Any, status: int = 200) -> Any:
    """POST and return ``data``, checking the status and Helicone's envelope."""
    response = client.post(path, json=body, headers=auth(key))
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["error"] is None, answer
    return answer["data"]
