"""The redaction API over HTTP: the default policy, replacing it (writers only, every refusal a 4xx
naming the rule, nothing saved), previews, and one organization's policy never touching another's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from redaction.support import EMAIL, enable
from support.http import auth

ALL_DETECTORS = ["email", "phone", "payment_card", "api_key", "bearer"]


def test_a_new_organization_redacts_nothing_by_default(client: TestClient, key: str) -> None:
    response = client.get("/v1/redaction", headers=auth(key))
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "enabled": False,
            "detectors": ALL_DETECTORS,
            "customRules": [],
            "builtInDetectors": ALL_DETECTORS,
            "version": 0,
            "updatedAt": None,
        },
        "error": None,
    }


def test_a_policy_is_replaced_whole_and_read_back(client: TestClient, key: str) -> None:
    rules = [{"name": "ticket", "pattern": r"TCK-\d{6}"}, {"name": "emp-id", "pattern": r"E(\d{5})"}]
    saved = enable(client, key, detectors=["phone", "email", "email"], customRules=rules)
    assert saved["detectors"] == ["email", "phone"]
    assert saved["customRules"] == rules
    assert saved["version"] == 1
    assert saved["updatedAt"] > 0
    read = client.get("/v1/redaction", headers=auth(key)).json()["data"]
    assert read == saved
    again = enable(client, key)
    assert again["version"] == 2
    assert again["detectors"] == ALL_DETECTORS  # the default when the field is left out
    assert again["customRules"] == []


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"name": "broken", "pattern": "TCK-(\\d+"}, "customRules[1] (broken).pattern: not a valid regular"),
        ({"name": "empty", "pattern": "x*"}, "customRules[1] (empty).pattern: matches the empty string"),
        ({"name": "edge", "pattern": "\\b"}, "customRules[1] (edge).pattern: matches the empty string"),
        ({"name": "long", "pattern": "a" * 1001}, "customRules[1] (long).pattern: longer than 1000"),
        ({"name": "blank", "pattern": ""}, "customRules[1] (blank).pattern: must not be empty"),
        ({"name": 'quo"te', "pattern": "x"}, "customRules[1].name"),
        ({"name": "", "pattern": "x"}, "customRules[1].name"),
        ({"name": "ok", "pattern": "y"}, "customRules[1] (ok).name: another custom rule has this name"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule_and_nothing_is_saved(
    client: TestClient, key: str, rule: dict[str, str], fragment: str
) -> None:
    body = {"enabled": True, "customRules": [{"name": "ok", "pattern": "x"}, rule]}
    response = client.put("/v1/redaction", json=body, headers=auth(key))
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]
    assert client.get("/v1/redaction", headers=auth(key)).json()["data"]["version"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"enabled": True, "detectors": ["ssn"]},
        {"detectors": ["email"]},
        {"enabled": "yes please"},
        {"enabled": True, "customRules": [{"name": "x"}]},
        {"enabled": True, "surprise": 1},
    ],
)
def test_malformed_bodies_are_422(client: TestClient, key: str, body: dict[str, Any]) -> None:
    response = client.put("/v1/redaction", json=body, headers=auth(key))
    assert response.status_code == 422, response.text
    assert response.json()["details"]


def test_only_writers_replace_and_anyone_reads(client: TestClient, make_key: Callable[..., str]) -> None:
    reader = make_key(permissions="r")
    refused = client.put("/v1/redaction", json={"enabled": True}, headers=auth(reader))
    assert refused.status_code == 401
    assert client.get("/v1/redaction", headers=auth(reader)).status_code == 200
    assert client.get("/v1/redaction").status_code == 401


def test_preview_uses_the_saved_rules_even_while_off(client: TestClient, key: str) -> None:
    text = f"mail {EMAIL}, ticket TCK-123456"
    response = client.post("/v1/redaction/preview", json={"text": text}, headers=auth(key))
    assert response.status_code == 200
    assert response.json()["data"] == {
        "text": text,
        "redacted": "mail [REDACTED:email], ticket TCK-123456",
        "changed": True,
    }
    client.put(
        "/v1/redaction",
        json={"enabled": False, "detectors": [], "customRules": [{"name": "ticket", "pattern": r"TCK-\d+"}]},
        headers=auth(key),
    )
    data = client.post("/v1/redaction/preview", json={"text": text}, headers=auth(key)).json()["data"]
    assert data["redacted"] == f"mail {EMAIL}, ticket [REDACTED:ticket]"


def test_preview_with_a_given_policy_redacts_json_value_by_value(client: TestClient, key: str) -> None:
    text = '{"to": "jane@example.com", "jane@example.com": 1}'
    policy = {"enabled": False, "detectors": ["email"]}
    data = client.post(
        "/v1/redaction/preview", json={"text": text, "policy": policy}, headers=auth(key)
    ).json()
    assert data["data"]["redacted"] == '{"to":"[REDACTED:email]","jane@example.com":1}'
    none = client.post("/v1/redaction/preview", json={"text": "plain", "policy": policy}, headers=auth(key))
    assert none.json()["data"]["changed"] is False
    bad = {"enabled": True, "customRules": [{"name": "x", "pattern": "("}]}
    refused = client.post("/v1/redaction/preview", json={"text": "t", "policy": bad}, headers=auth(key))
    assert refused.status_code == 400
    assert "customRules[0] (x).pattern" in refused.json()["error"]


def test_one_organizations_policy_is_its_own(
    client: TestClient, key: str, make_key: Callable[..., str]
) -> None:
    other = make_key(org="globex")
    enable(client, key, detectors=["email"])
    assert client.get("/v1/redaction", headers=auth(other)).json()["data"]["enabled"] is False
