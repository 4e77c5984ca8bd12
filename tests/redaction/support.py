"""Helpers of the redaction tests: PII samples, switching a policy on over the API, and everything an
organization has stored, read back from the tables (compressed columns decompress on read)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.storage.tables import (
    organizations,
    prompt_inputs,
    prompt_versions,
    request_bodies,
    request_properties,
    requests,
    spans,
)
from support.http import auth

EMAIL = "jane.doe@example.com"
PHONE = "+1 415 555 2671"
CARD = "4111 1111 1111 1111"
OPENAI_KEY = "sk-proj-" + "Ab3" * 12
TOKEN = "Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature"
#: Every sample, and the kind each becomes.
SAMPLES = {EMAIL: "email", PHONE: "phone", CARD: "payment_card", OPENAI_KEY: "api_key"}
TEXT = f"Mail {EMAIL}, call {PHONE}, card {CARD}, key {OPENAI_KEY}."


def enable(client: TestClient, key: str, **policy: Any) -> dict[str, Any]:
    response = client.put("/v1/redaction", json={"enabled": True, **policy}, headers=auth(key))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def organization_id(engine: sa.Engine, name: str = "acme") -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(organizations.c.id).where(organizations.c.name == name)).scalar_one()
        )


def stored(engine: sa.Engine, org: str = "acme") -> str:
    """Every text the organization has stored in the tables ingestion writes, as one string."""
    org_id = organization_id(engine, org)
    queries = [
        sa.select(request_bodies.c.payload).where(request_bodies.c.organization_id == org_id),
        sa.select(request_properties.c.key, request_properties.c.value).where(
            request_properties.c.organization_id == org_id
        ),
        sa.select(requests.c.path, requests.c.target_url).where(requests.c.organization_id == org_id),
        sa.select(spans.c.attributes, spans.c.extra, spans.c.status_message).where(
            spans.c.organization_id == org_id
        ),
        sa.select(prompt_inputs.c.inputs, prompt_inputs.c.auto_inputs).where(
            prompt_inputs.c.organization_id == org_id
        ),
        sa.select(prompt_versions.c.template).where(prompt_versions.c.organization_id == org_id),
    ]
    texts: list[str] = []
    with engine.connect() as conn:
        for query in queries:
            for row in conn.execute(query):
                texts.extend(str(value) for value in row if value is not None)
    return "\n".join(texts)


def wait_stored(engine: sa.Engine, needle: str, org: str = "acme", timeout: float = 10.0) -> str:
    """What the organization stored, once ``needle`` is in it (gateway logs are written after the
    answer)."""
    deadline = time.monotonic() + timeout
    while True:
        text = stored(engine, org)
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} never stored; stored: {text[:2000]}")
        time.sleep(0.02)


def assert_redacted(text: str) -> None:
    for sample, kind in SAMPLES.items():
        assert sample not in text, f"{sample} stored unredacted"
        assert f"[REDACTED:{kind}]" in text, f"no [REDACTED:{kind}] in {text[:2000]}"
