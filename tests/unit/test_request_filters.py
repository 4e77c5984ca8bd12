"""The filter/sort translator executed against a real database (``pytest --db all`` runs both dialects).

Each case asserts the exact set (or order) of seeded requests a Helicone filter node selects. Golden
cases ported from Helicone's ``packages/__tests__/filters`` suites are marked "golden".
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from heliograph.storage import dialect as sql_dialect
from heliograph.storage.payloads import encode_payload
from heliograph.storage.request_filters import (
    MAX_CONDITIONS,
    MAX_NESTING,
    FilterError,
    request_filter_clause,
    request_order_by,
    split_equality_property,
)
from heliograph.storage.tables import organizations, request_bodies, request_properties, requests, scores

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z in epoch ms
HOUR = 3_600_000
ORG_A, ORG_B = 1, 2
ORG_A_UUID = uuid.UUID("0a0a0a0a-0000-4000-8000-00000000000a")
ORG_B_UUID = uuid.UUID("0b0b0b0b-0000-4000-8000-00000000000b")
IDS = {
    name: uuid.UUID(f"{letter * 8}-0000-4000-8000-00000000000{digit}")
    for name, letter, digit in [
        ("r1", "a", "1"),
        ("r2", "b", "2"),
        ("r3", "c", "3"),
        ("r4", "d", "4"),
        ("r5", "e", "5"),
        ("r9", "f", "9"),
    ]
}
NAMES = {value: key for key, value in IDS.items()}
ALL = {"r1", "r2", "r3", "r4", "r5"}

REQUESTS: dict[str, dict[str, Any]] = {
    "r1": {
        "model": "gpt-4o",
        "provider": "OPENAI",
        "user_id": "alice",
        "status": 200,
        "latency": 100,
        "time_to_first_token": 50,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "prompt_cache_read_tokens": 5,
        "cost": 1_000_000,
        "created_at": T0,
        "response_created_at": T0 + 100,
        "session_id": "s1",
        "session_path": "/a",
        "session_name": "Chat",
        "country_code": "US",
        "target_url": "https://api.openai.com/v1/chat/completions",
        "prompt_id": "p1",
        "prompt_version": "1",
        "cache_enabled": True,
        "threat": False,
        "path": "/v1/chat/completions",
        "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06",
    },
    "r2": {
        "model": "GPT-4O-MINI",
        "provider": "OPENAI",
        "user_id": "bob",
        "status": 500,
        "latency": 2000,
        "prompt_tokens": 100,
        "prompt_cache_write_tokens": 7,
        "cost": 570_000_000,
        "created_at": T0 + HOUR,
        "response_created_at": T0 + HOUR + 2000,
        "country_code": "DE",
        "request_referrer": "https://x.example",
        "cache_enabled": True,
        "cache_reference_id": IDS["r1"],
        "threat": True,
    },
    "r3": {
        "model": "claude-3-5-sonnet",
        "provider": "ANTHROPIC",
        "status": 200,
        "latency": 300,
        "time_to_first_token": 120,
        "cost": 0,
        "created_at": T0 + 2 * HOUR,
    },
    "r4": {
        "model": "",
        "provider": "CUSTOM",
        "user_id": "",
        "status": -3,
        "prompt_tokens": 5,
        "completion_tokens": 5,
        "cost": 1,
        "created_at": T0 + 3 * HOUR,
        "session_id": "s1",
        "session_path": "/a/b",
        "country_code": "",
        "threat": False,
    },
    "r5": {
        "model": "gpt-4o",
        "provider": "OPENAI",
        "user_id": "alice",
        "status": 429,
        "latency": 50,
        "time_to_first_token": 20,
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "cost": 1_250_000_000,
        "created_at": T0 + 24 * HOUR,
        "response_created_at": T0 + 24 * HOUR + 50,
        "country_code": "US",
        "is_passthrough_billing": True,
        "target_url": "https://api.openai.com/v1/completions",
        "model_override": "my-model",
        "path": "/v1/completions",
    },
    "r9": {
        "organization_id": ORG_B,
        "model": "gpt-4o",
        "user_id": "alice",
        "status": 200,
        "latency": 100,
        "created_at": T0 + HOUR // 2,
        "session_id": "s1",
    },
}
PROPERTIES = [
    ("r1", "env", "prod"),
    ("r1", "tier", "50%_off"),
    ("r2", "env", "dev"),
    ("r2", "tier", "50 off"),
    ("r4", "Env", "prod"),
    ("r5", "env", "prod"),
    ("r5", "tier", "50xoff"),
    ("r5", "key with spaces.and-dashes", "v"),
    ("r9", "env", "prod"),
]
SCORES = [
    ("r1", "quality", 8),
    ("r1", "helpful-hcone-bool", 1),
    ("r1", "helicone-score-feedback", 1),
    ("r2", "quality", 3),
    ("r2", "helpful-hcone-bool", 0),
    ("r2", "helicone-score-feedback", 0),
    ("r4", "quality", 10),
    ("r9", "quality", 8),
]
BODIES = [
    ("r1", "Hello World", '{"choices":[{"message":"Hi there"}]}'),
    ("r2", "discount 50% now", None),
    ("r4", "a_b", "x%y"),
    ("r5", "what? [literal] *star*", "ok"),
    ("r9", "Hello World", "Hi there"),
]


SEQS = {name: index for index, name in enumerate(sorted(REQUESTS), start=1)}


def _seed(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            organizations.insert(),
            [
                {"id": ORG_A, "uuid": ORG_A_UUID, "name": "a", "created_at": T0},
                {"id": ORG_B, "uuid": ORG_B_UUID, "name": "b", "created_at": T0},
            ],
        )
        for name, row in REQUESTS.items():
            values = {"organization_id": ORG_A, "source": "proxy", "updated_at": row["created_at"], **row}
            conn.execute(requests.insert().values(id=IDS[name], seq=SEQS[name], **values))
        conn.execute(
            request_properties.insert(),
            [_side(name, key=key, value=value) for name, key, value in PROPERTIES]
            # Rows filed under another organization must never count for an org-A request.
            + [_side("r3", key="env", value="prod", organization_id=ORG_B)],
        )
        conn.execute(
            scores.insert(),
            [_side(name, key=key, value=value, updated_at=T0) for name, key, value in SCORES]
            + [_side("r5", key="quality", value=9, updated_at=T0, organization_id=ORG_B)],
        )
        conn.execute(
            request_bodies.insert(),
            [
                {
                    "request_seq": SEQS[name],
                    "organization_id": _org(name),
                    "payload": encode_payload(req, resp, None),
                }
                for name, req, resp in BODIES
            ]
            + [
                {
                    "request_seq": SEQS["r3"],
                    "organization_id": ORG_B,
                    "payload": encode_payload("hello world", "hi", None),
                }
            ],
        )


def _org(name: str) -> int:
    return int(REQUESTS[name].get("organization_id", ORG_A))


def _side(name: str, **values: Any) -> dict[str, Any]:
    return {"request_seq": SEQS[name], "organization_id": _org(name), "created_at": T0, **values}


@pytest.fixture
def seeded(engine: sa.Engine) -> sa.Engine:
    _seed(engine)
    return engine


def matched(engine: sa.Engine, node: object, *, org: int | None = ORG_A) -> set[str]:
    clause = request_filter_clause(node, dialect=engine.dialect.name)
    query = sa.select(requests.c.id).where(clause)
    if org is not None:
        query = query.where(requests.c.organization_id == org)
    with engine.connect() as conn:
        return {NAMES[row] for row in conn.scalars(query)}


def ordered(engine: sa.Engine, sort: object, node: object = "all") -> list[str]:
    name = engine.dialect.name
    query = (
        sa.select(requests.c.id)
        .where(requests.c.organization_id == ORG_A, request_filter_clause(node, dialect=name))
        .order_by(*request_order_by(sort, dialect=name))
    )
    with engine.connect() as conn:
        return [NAMES[row] for row in conn.scalars(query)]


def rmt(field: str, op: str, value: object) -> dict[str, Any]:
    return {"request_response_rmt": {field: {op: value}}}


def props(key: str, op: str, value: object) -> dict[str, Any]:
    return {"request_response_rmt": {"properties": {key: {op: value}}}}


def score(key: str, op: str, value: object) -> dict[str, Any]:
    return {"request_response_rmt": {"scores": {key: {op: value}}}}


def both(op: str, left: object, right: object) -> dict[str, Any]:
    return {"left": left, "operator": op, "right": right}


def uid(name: str) -> str:
    return str(IDS[name])


C = pytest.param
TEXT_CASES = [
    C(rmt("model", "equals", "gpt-4o"), {"r1", "r5"}, id="equals"),
    C(rmt("model", "not-equals", "gpt-4o"), {"r2", "r3", "r4"}, id="not-equals"),
    C(rmt("model", "like", "gpt%"), {"r1", "r5"}, id="like-is-case-sensitive"),
    C(rmt("model", "like", "GPT%"), {"r2"}, id="like-upper"),
    C(rmt("model", "like", "gpt_4o"), {"r1", "r5"}, id="like-underscore-wildcard"),
    C(rmt("model", "ilike", "gpt%"), {"r1", "r2", "r5"}, id="ilike"),
    C(rmt("model", "contains", "4O"), {"r1", "r2", "r5"}, id="contains-ignores-case"),
    C(rmt("model", "not-contains", "gpt"), {"r3", "r4"}, id="not-contains"),
    C(rmt("model", "equals", "__empty__"), {"r4"}, id="empty"),
    C(rmt("model", "not-equals", "__empty__"), {"r1", "r2", "r3", "r5"}, id="not-empty"),
    C(rmt("user_id", "equals", "null"), {"r3"}, id="null"),
    C(rmt("user_id", "equals", None), {"r3"}, id="json-null-golden"),
    C(rmt("user_id", "not-equals", "null"), {"r1", "r2", "r4", "r5"}, id="not-null"),
    C(rmt("user_id", "equals", "__empty__"), {"r3", "r4"}, id="empty-includes-null"),
    C(rmt("user_id", "not-equals", "alice"), {"r2", "r3", "r4"}, id="not-equals-includes-null"),
    C(rmt("user_id", "not-contains", "LI"), {"r2", "r3", "r4"}, id="not-contains-includes-null"),
    C(rmt("user_id", "equals", "O'Reilly & Co. <script>alert('xss')</script>"), set(), id="quotes-golden"),
    C(rmt("user_id", "equals", "测试用户 🚀 émojis"), set(), id="unicode-golden"),
    C(rmt("user_id", "like", "al\\"), set(), id="trailing-backslash-is-literal"),
    C(rmt("provider", "equals", "ANTHROPIC"), {"r3"}, id="provider"),
    C(rmt("country_code", "equals", "__empty__"), {"r3", "r4"}, id="country-empty"),
    C(rmt("country_code", "equals", "US"), {"r1", "r5"}, id="country"),
    C(rmt("target_url", "contains", "openai.com"), {"r1", "r5"}, id="target-url"),
    C(rmt("prompt_id", "equals", "p1"), {"r1"}, id="prompt-id"),
    C(rmt("prompt_version", "equals", "1"), {"r1"}, id="prompt-version"),
    C(rmt("request_referrer", "equals", "null"), {"r1", "r3", "r4", "r5"}, id="referrer-null"),
    # contains/not-contains take the value literally; like/ilike take a pattern.
    C(props("tier", "contains", "50%"), {"r1"}, id="contains-escapes-percent"),
    C(props("tier", "contains", "_o"), {"r1"}, id="contains-escapes-underscore"),
    C(props("tier", "contains", "%_"), {"r1"}, id="contains-escapes-both"),
    C(props("tier", "like", "50%off"), {"r1", "r2", "r5"}, id="like-percent-wildcard"),
    C(props("tier", "like", "50\\%%"), {"r1"}, id="like-escaped-percent"),
    C(props("tier", "ilike", "50_OFF"), {"r2", "r5"}, id="ilike-underscore-wildcard"),
    C(props("tier", "like", "50_OFF"), set(), id="like-case-sensitive"),
]
UUID_CASES = [
    C(rmt("request_id", "equals", uid("r1")), {"r1"}, id="equals"),
    C(rmt("request_id", "equals", uid("r1").upper()), {"r1"}, id="equals-upper"),
    C(rmt("request_id", "not-equals", uid("r1")), ALL - {"r1"}, id="not-equals"),
    C(rmt("request_id", "equals", "not-a-uuid"), set(), id="bad-uuid-equals"),
    C(rmt("request_id", "not-equals", "not-a-uuid"), ALL, id="bad-uuid-not-equals"),
    C(rmt("request_id", "like", "aaaaaaaa-%"), {"r1"}, id="like"),
    C(rmt("request_id", "like", "AAAAAAAA%"), set(), id="like-canonical-lower"),
    C(rmt("request_id", "ilike", "AAAAAAAA%"), {"r1"}, id="ilike"),
    C(rmt("request_id", "contains", "BBBB"), {"r2"}, id="contains"),
    C(rmt("request_id", "equals", "null"), set(), id="null"),
    C(rmt("cache_reference_id", "equals", uid("r1")), {"r2"}, id="cache-ref"),
    C(rmt("cache_reference_id", "equals", "null"), ALL - {"r2"}, id="cache-ref-null"),
    C(rmt("cache_reference_id", "not-equals", "null"), {"r2"}, id="cache-ref-not-null"),
    C(rmt("cache_reference_id", "not-equals", uid("r1")), ALL - {"r2"}, id="cache-ref-not-equals"),
    C(rmt("cache_reference_id", "like", "aaaa%"), {"r2"}, id="cache-ref-like"),
    C(rmt("cache_reference_id", "not-contains", "aaaa"), ALL - {"r2"}, id="cache-ref-not-contains"),
]
NUMBER_CASES = [
    C(rmt("latency", "gt", 100), {"r2", "r3"}, id="gt"),
    C(rmt("latency", "gte", 100), {"r1", "r2", "r3"}, id="gte"),
    C(rmt("latency", "lt", 100), {"r5"}, id="lt"),
    C(rmt("latency", "lte", 100), {"r1", "r5"}, id="lte"),
    C(rmt("latency", "equals", 300), {"r3"}, id="equals"),
    C(rmt("latency", "not-equals", 300), {"r1", "r2", "r4", "r5"}, id="not-equals-includes-null"),
    C(rmt("latency", "equals", "null"), {"r4"}, id="null"),
    C(rmt("latency", "gt", "100"), {"r2", "r3"}, id="numeric-string"),
    C(rmt("latency", "gt", 99.5), {"r1", "r2", "r3"}, id="float-not-rounded"),
    C(rmt("latency", "lt", 1e30), {"r1", "r2", "r3", "r5"}, id="huge-float"),
    C(rmt("latency", "lt", 10**30), {"r1", "r2", "r3", "r5"}, id="huge-int"),
    C(rmt("latency", "gt", 2**53 - 1), set(), id="max-safe-integer-golden"),
    C(rmt("status", "equals", -3), {"r4"}, id="status-negative"),
    C(rmt("status", "gte", 400), {"r2", "r5"}, id="status-gte"),
    C(rmt("status", "lt", 3_000_000_000), ALL, id="beyond-int32"),
    C(rmt("time_to_first_token", "gt", 60), {"r3"}, id="ttft"),
    C(rmt("time_to_first_token", "equals", "null"), {"r2", "r4"}, id="ttft-null"),
    C(rmt("prompt_tokens", "gte", 10), {"r1", "r2"}, id="prompt-tokens"),
    C(rmt("completion_tokens", "equals", "null"), {"r2", "r3"}, id="completion-null"),
    C(rmt("total_tokens", "gt", 20), {"r1", "r2"}, id="total-tokens"),
    C(rmt("total_tokens", "equals", 0), {"r3"}, id="total-tokens-zero"),
    C(rmt("total_tokens", "lt", 5), {"r3", "r5"}, id="total-tokens-lt"),
    C(rmt("prompt_cache_read_tokens", "gt", 0), {"r1"}, id="cache-read"),
    C(rmt("prompt_cache_write_tokens", "equals", 0), ALL - {"r2"}, id="cache-write"),
    C(rmt("cost", "equals", 0.001), {"r1"}, id="cost-usd"),
    C(rmt("cost", "equals", 0.57), {"r2"}, id="cost-no-float-error"),
    C(rmt("cost", "gte", 0.001), {"r1", "r2", "r5"}, id="cost-gte"),
    C(rmt("cost", "gt", 0.001), {"r2", "r5"}, id="cost-gt"),
    C(rmt("cost", "lt", 0.000000001), {"r3"}, id="cost-one-nano"),
    C(rmt("cost", "gte", 0.0000000015), {"r1", "r2", "r4", "r5"}, id="cost-floor"),
    C(rmt("cost", "gte", "0.5"), {"r2", "r5"}, id="cost-string"),
    C(rmt("cost", "equals", 0), {"r3"}, id="cost-zero-golden"),
    C(rmt("cost", "gte", 0.000001), {"r1", "r2", "r5"}, id="cost-small-golden"),
    C(rmt("cost", "lt", -(2**53 - 1)), set(), id="cost-min-safe-integer-golden"),
    # Bounds beyond every column: answered, never an overflow or a 400.
    C(rmt("latency", "lt", 10**309), {"r1", "r2", "r3", "r5"}, id="310-digit-int"),
    C(rmt("latency", "gte", -(10**309)), {"r1", "r2", "r3", "r5"}, id="310-digit-negative-int"),
    C(rmt("latency", "lte", float("inf")), {"r1", "r2", "r3", "r5"}, id="infinity"),
    C(rmt("latency", "gt", float("-inf")), {"r1", "r2", "r3", "r5"}, id="minus-infinity"),
    C(rmt("latency", "equals", float("-inf")), set(), id="equals-minus-infinity"),
    C(rmt("latency", "not-equals", 1e300), ALL, id="not-equals-huge-includes-null"),
    C(rmt("latency", "gt", "1e999999999"), set(), id="huge-exponent-string"),
    C(rmt("latency", "lt", "-1e999999999"), set(), id="huge-negative-exponent-string"),
    C(rmt("latency", "equals", 2**63), set(), id="just-beyond-int64"),
    C(rmt("latency", "lt", 2.0**63), {"r1", "r2", "r3", "r5"}, id="float-beyond-int64"),
    C(rmt("latency", "equals", 300.0), {"r3"}, id="integral-float"),
    C(rmt("cost", "lt", 1e300), {"r1", "r2", "r3", "r4", "r5"}, id="cost-huge"),
    C(rmt("cost", "gt", 10**309), set(), id="cost-310-digits"),
    C(rmt("cost", "gte", 10**10), set(), id="cost-beyond-int64-nanos"),
    C(rmt("cost", "gt", -1e300), {"r1", "r2", "r3", "r4", "r5"}, id="cost-huge-negative"),
    C(rmt("total_tokens", "lt", 10**309), ALL, id="total-tokens-huge"),
    C(score("quality", "lt", 10**309), {"r1", "r2", "r4"}, id="score-huge"),
    C(score("quality", "not-equals", -(10**309)), ALL, id="score-not-equals-huge"),
]
TIME_CASES = [
    C(rmt("request_created_at", "lt", 10**309), ALL, id="310-digits"),
    C(rmt("request_created_at", "gt", -1e300), ALL, id="huge-negative-float"),
    C(rmt("request_created_at", "gte", "1e400"), set(), id="huge-numeric-string"),
    C(rmt("response_created_at", "lt", 1e300), {"r1", "r2", "r5"}, id="huge-excludes-null"),
    C(rmt("request_created_at", "equals", float(T0)), {"r1"}, id="epoch-ms-float"),
    C(rmt("request_created_at", "gte", "2024-01-01T01:00:00Z"), ALL - {"r1"}, id="gte"),
    C(rmt("request_created_at", "gt", "2024-01-01T01:00:00Z"), {"r3", "r4", "r5"}, id="gt"),
    C(rmt("request_created_at", "lt", "2024-01-01T01:00:00.000Z"), {"r1"}, id="lt"),
    C(rmt("request_created_at", "lte", "2024-01-01T01:00:00Z"), {"r1", "r2"}, id="lte"),
    C(rmt("request_created_at", "equals", "2024-01-01T02:00:00+00:00"), {"r3"}, id="equals"),
    C(rmt("request_created_at", "equals", "2024-01-01T03:00:00+01:00"), {"r3"}, id="offset"),
    C(rmt("request_created_at", "equals", "2024-01-01T03:00:00"), {"r4"}, id="naive-is-utc"),
    C(rmt("request_created_at", "equals", T0), {"r1"}, id="epoch-ms"),
    C(rmt("request_created_at", "equals", str(T0)), {"r1"}, id="epoch-ms-string"),
    C(rmt("request_created_at", "gte", "2024-01-02"), {"r5"}, id="date-only"),
    C(
        {
            "left": rmt("request_created_at", "gte", "2024-01-01T00:30:00Z"),
            "operator": "and",
            "right": rmt("request_created_at", "lt", "2024-01-01T03:00:00Z"),
        },
        {"r2", "r3"},
        id="range",
    ),
    C(
        {"request_response_rmt": {"request_created_at": {"gte": T0 + 1, "lt": T0 + 3 * HOUR}}},
        {"r2", "r3"},
        id="range-in-one-leaf",
    ),
    C(rmt("response_created_at", "equals", "null"), {"r3", "r4"}, id="response-null"),
    C(rmt("response_created_at", "gt", "2024-01-01T00:00:00.050Z"), {"r1", "r2", "r5"}, id="response-gt"),
]
BOOLEAN_CASES = [
    C(rmt("threat", "equals", True), {"r2"}, id="threat"),
    C(rmt("threat", "equals", False), ALL - {"r2"}, id="threat-false-includes-null-golden"),
    C(rmt("threat", "equals", "true"), {"r2"}, id="threat-string"),
    C(rmt("cache_enabled", "equals", True), {"r1", "r2"}, id="cache-enabled"),
    C(rmt("cache_enabled", "equals", False), {"r3", "r4", "r5"}, id="cache-disabled"),
    C(rmt("is_passthrough_billing", "equals", True), {"r5"}, id="passthrough"),
    C(rmt("cached", "equals", True), {"r2"}, id="cached"),
    C(rmt("cached", "equals", False), ALL - {"r2"}, id="not-cached"),
]
PROPERTY_CASES = [
    C(props("env", "equals", "prod"), {"r1", "r5"}, id="equals"),
    C(props("Env", "equals", "prod"), {"r4"}, id="keys-case-sensitive"),
    C(props("env", "not-equals", "prod"), {"r2", "r3", "r4"}, id="not-equals-includes-absent"),
    C(props("env", "equals", "null"), {"r3", "r4"}, id="absent"),
    C(props("env", "not-equals", "null"), {"r1", "r2", "r5"}, id="present"),
    C(props("env", "equals", "__empty__"), {"r3", "r4"}, id="empty"),
    C(props("env", "ilike", "PR%"), {"r1", "r5"}, id="ilike"),
    C(props("env", "contains", "RO"), {"r1", "r5"}, id="contains"),
    C(props("env", "not-contains", "ro"), {"r2", "r3", "r4"}, id="not-contains"),
    C(props("key with spaces.and-dashes", "equals", "v"), {"r5"}, id="special-key-golden"),
    C(
        {"request_response_rmt": {"properties": {"env": {"equals": "prod"}, "tier": {"equals": "50%_off"}}}},
        {"r1"},
        id="two-keys-anded",
    ),
    C({"properties": {"env": {"equals": "prod"}}}, {"r1", "r5"}, id="legacy-top-level"),
    C({"values": {"env": {"equals": "dev"}}}, {"r2"}, id="legacy-values"),
    C(rmt("property_key", "equals", "env"), {"r1", "r2", "r5"}, id="property-key"),
    C(rmt("property_key", "equals", "Env"), {"r4"}, id="property-key-case"),
    C(rmt("property_key", "equals", "Helicone-Session-Id"), {"r1", "r4"}, id="property-key-session"),
    C(props("Helicone-Session-Id", "equals", "s1"), {"r1", "r4"}, id="session-id"),
    C(props("Helicone-Session-Id", "equals", "null"), {"r2", "r3", "r5"}, id="session-id-null"),
    C(props("Helicone-Session-Path", "like", "/a%"), {"r1", "r4"}, id="session-path-like"),
    C(props("Helicone-Session-Path", "equals", "/a/b"), {"r4"}, id="session-path"),
    C(props("Helicone-Session-Name", "equals", "Chat"), {"r1"}, id="session-name"),
    C(props("helicone-session-id", "equals", "s1"), set(), id="session-key-case-sensitive"),
]
SCORE_CASES = [
    C(score("quality", "gt", 5), {"r1", "r4"}, id="gt"),
    C(score("quality", "gt", 7.5), {"r1", "r4"}, id="gt-float"),
    C(score("quality", "equals", 3), {"r2"}, id="equals"),
    C(score("quality", "gte", "8"), {"r1", "r4"}, id="numeric-string"),
    C(score("quality", "equals", "0.85"), set(), id="string-score-golden"),
    C(score("quality", "lt", 9), {"r1", "r2"}, id="lt"),
    C(score("quality", "not-equals", 8), {"r2", "r3", "r4", "r5"}, id="not-equals"),
    C(score("quality", "equals", "null"), {"r3", "r5"}, id="absent"),
    C(score("helpful", "equals", True), {"r1"}, id="bool-true"),
    C(score("helpful", "equals", False), {"r2"}, id="bool-false"),
    C(score("helpful", "not-equals", True), {"r2", "r3", "r4", "r5"}, id="bool-not-equals"),
    C(rmt("helicone-score-feedback", "equals", True), {"r1"}, id="feedback-true"),
    C(rmt("helicone-score-feedback", "equals", False), {"r2"}, id="feedback-false"),
    C({"feedback": {"rating": {"equals": True}}}, {"r1"}, id="legacy-rating"),
    C(rmt("scores_column", "equals", "{}"), {"r3", "r5"}, id="unscored"),
    C(rmt("scores_column", "not-equals", "{}"), {"r1", "r2", "r4"}, id="scored"),
]
BODY_CASES = [
    C(rmt("request_body", "contains", "hello world"), {"r1"}, id="contains"),
    C(rmt("request_body", "like", "%Hello%"), {"r1"}, id="like"),
    C(rmt("request_body", "like", "%hello%"), set(), id="like-case-sensitive"),
    C(rmt("request_body", "ilike", "%hello%"), {"r1"}, id="ilike"),
    C(rmt("request_body", "contains", "50%"), {"r2"}, id="contains-percent"),
    C(rmt("request_body", "contains", "_"), {"r4"}, id="contains-underscore"),
    C(rmt("request_body", "like", "%[literal]%"), {"r5"}, id="like-brackets"),
    C(rmt("request_body", "like", "%?%"), {"r5"}, id="like-question-mark"),
    C(rmt("request_body", "like", "%*star*"), {"r5"}, id="like-star"),
    C(rmt("request_body", "equals", "a_b"), {"r4"}, id="equals"),
    C(rmt("request_body", "equals", "__empty__"), {"r3"}, id="empty"),
    C(rmt("response_body", "not-contains", "hi"), {"r2", "r3", "r4", "r5"}, id="not-contains"),
    C(rmt("response_body", "equals", "null"), {"r2", "r3"}, id="null"),
    C(rmt("response_body", "contains", "x%y"), {"r4"}, id="contains-literal"),
]
LEGACY_CASES = [
    C({"request": {"prompt": {"contains": "hello"}}}, {"r1"}, id="prompt"),
    C({"request": {"created_at": {"gte": "2024-01-01T02:00:00Z"}}}, {"r3", "r4", "r5"}, id="created-at"),
    C({"request": {"user_id": {"equals": "alice"}}}, {"r1", "r5"}, id="user-id"),
    C({"request": {"id": {"equals": uid("r1")}}}, {"r1"}, id="id"),
    C({"request": {"model": {"equals": "gpt-4o"}}}, {"r1", "r5"}, id="model"),
    C({"request": {"modelOverride": {"equals": "my-model"}}}, {"r5"}, id="model-override"),
    C({"request": {"path": {"equals": "/v1/completions"}}}, {"r5"}, id="path"),
    C({"request": {"country_code": {"equals": "DE"}}}, {"r2"}, id="country"),
    C({"request": {"prompt_id": {"equals": "p1"}}}, {"r1"}, id="prompt-id"),
    C({"response": {"body_tokens": {"gte": 30}}}, {"r1", "r2"}, id="body-tokens"),
    C({"response": {"body_model": {"equals": "claude-3-5-sonnet"}}}, {"r3"}, id="body-model"),
    C({"response": {"body_completion": {"contains": "hi there"}}}, {"r1"}, id="body-completion"),
    C({"response": {"status": {"equals": 500}}}, {"r2"}, id="status"),
    C({"response": {"model": {"equals": "gpt-4o-2024-08-06"}}}, {"r1"}, id="response-model"),
]
TREE_CASES = [
    C("all", ALL, id="all"),
    C({}, ALL, id="empty-leaf"),
    C({"request_response_rmt": {}}, ALL, id="empty-table"),
    C(
        both("or", rmt("model", "equals", "gpt-4o"), rmt("status", "equals", 500)),
        {"r1", "r2", "r5"},
        id="or",
    ),
    C(
        both("and", rmt("model", "equals", "gpt-4o"), rmt("user_id", "equals", "alice")),
        {"r1", "r5"},
        id="and",
    ),
    C(both("and", "all", rmt("status", "equals", 200)), {"r1", "r3"}, id="and-all"),
    C(both("or", "all", rmt("status", "equals", 200)), ALL, id="or-all"),
    C(both("and", {}, rmt("status", "equals", 200)), {"r1", "r3"}, id="and-empty"),
    C(
        both(
            "and",
            both("or", rmt("model", "equals", "claude-3-5-sonnet"), rmt("status", "equals", 500)),
            rmt("latency", "gt", 1000),
        ),
        {"r2"},
        id="nested",
    ),
    C(
        {"request_response_rmt": {"model": {"equals": "gpt-4o"}, "status": {"equals": 429}}},
        {"r5"},
        id="leaf-fields-anded",
    ),
    C({"request_response_rmt": {"latency": {"gte": 100, "lte": 300}}}, {"r1", "r3"}, id="leaf-ops-anded"),
    C(
        {"request_response_rmt": {"model": {"equals": "gpt-4o"}}, "properties": {"env": {"equals": "prod"}}},
        {"r1", "r5"},
        id="leaf-tables-anded",
    ),
    C(
        both(
            "and",
            both(
                "or",
                both("and", rmt("status", "equals", 200), rmt("model", "like", "gpt%")),
                rmt("latency", "lt", 1000),
            ),
            both("or", props("env", "equals", "prod"), score("quality", "gt", 0.8)),
        ),
        {"r1", "r5"},
        id="deeply-nested-golden",
    ),
]


@pytest.mark.parametrize(
    ("node", "expected"),
    TEXT_CASES
    + UUID_CASES
    + NUMBER_CASES
    + TIME_CASES
    + BOOLEAN_CASES
    + PROPERTY_CASES
    + SCORE_CASES
    + BODY_CASES
    + LEGACY_CASES
    + TREE_CASES,
)
def test_filter_matches(seeded: sa.Engine, node: object, expected: set[str]) -> None:
    assert matched(seeded, node) == expected


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        C(rmt("organization_id", "equals", str(ORG_A_UUID)), ALL, id="org"),
        C(rmt("organization_id", "equals", str(ORG_B_UUID).upper()), {"r9"}, id="org-upper"),
        C(rmt("organization_id", "not-equals", str(ORG_A_UUID)), {"r9"}, id="org-not-equals"),
        C(rmt("organization_id", "like", "0b0b%"), {"r9"}, id="org-like"),
        C(rmt("organization_id", "equals", "bogus"), set(), id="org-bogus"),
        C({"request": {"org_id": {"equals": str(ORG_B_UUID)}}}, {"r9"}, id="legacy-org-id"),
        C(props("env", "equals", "prod"), {"r1", "r5", "r9"}, id="properties-per-org"),
        C(rmt("request_body", "contains", "hello"), {"r1", "r9"}, id="bodies-per-org"),
    ],
)
def test_filter_across_organizations(seeded: sa.Engine, node: object, expected: set[str]) -> None:
    assert matched(seeded, node, org=None) == expected


def _chain(op: str, leaves: list[object], *, left_deep: bool) -> object:
    node = leaves[0]
    for leaf in leaves[1:]:
        node = both(op, node, leaf) if left_deep else both(op, leaf, node)
    return node


# A chain of MAX_CONDITIONS (1,000) leaves is as deep as SQLite's expression depth limit: only the
# balanced grouping keeps it answerable, and neither walk may recurse.
@pytest.mark.parametrize("left_deep", [True, False], ids=["left-deep", "right-deep"])
def test_deepest_or_chain(seeded: sa.Engine, left_deep: bool) -> None:
    values = [2000, *range(MAX_CONDITIONS - 1)]  # the seeded latencies 50, 100, 300 and 2000
    leaves: list[object] = [rmt("latency", "equals", value) for value in values]
    assert matched(seeded, _chain("or", leaves, left_deep=left_deep)) == {"r1", "r2", "r3", "r5"}


def test_deepest_and_chain(seeded: sa.Engine) -> None:
    leaves: list[object] = [
        rmt("latency", "not-equals", value) for value in range(1500, 1500 + MAX_CONDITIONS)
    ]
    assert matched(seeded, _chain("and", leaves, left_deep=True)) == {"r1", "r3", "r4", "r5"}


def test_more_conditions_than_the_limit_are_refused(seeded: sa.Engine) -> None:
    dialect = seeded.dialect.name
    leaves: list[object] = [rmt("latency", "equals", value) for value in range(MAX_CONDITIONS + 1)]
    many_keys = {
        "request_response_rmt": {"properties": {f"k{i}": {"equals": "v"} for i in range(MAX_CONDITIONS + 1)}}
    }
    two_big_leaves = both(
        "and",
        rmt("status", "equals", 200),
        {"properties": {f"k{i}": {"equals": "v"} for i in range(MAX_CONDITIONS)}},
    )
    two_operators = {"properties": {f"k{i}": {"equals": "v", "not-equals": "w"} for i in range(501)}}
    all_leaves = _chain("or", ["all"] * (MAX_CONDITIONS + 1), left_deep=True)
    for node in (_chain("or", leaves, left_deep=True), many_keys, two_big_leaves, two_operators, all_leaves):
        with pytest.raises(FilterError) as caught:
            request_filter_clause(node, dialect=dialect)
        assert str(caught.value) == f"filter has too many conditions (more than {MAX_CONDITIONS})"


def test_alternating_nesting_up_to_the_limit(seeded: sa.Engine) -> None:
    node: object = rmt("status", "equals", 200)
    for level in range(MAX_NESTING):
        # "or <never>" and "and <always>" keep the result while alternating the operator.
        node = (
            both("and", node, rmt("latency", "not-equals", -level))
            if level % 2
            else both("or", node, rmt("latency", "equals", -level))
        )
    assert matched(seeded, node) == {"r1", "r3"}
    with pytest.raises(FilterError) as caught:
        request_filter_clause(both("or", node, "all"), dialect=seeded.dialect.name)
    assert str(caught.value) == f"filter is nested too deeply (more than {MAX_NESTING} levels)"


SORT_CASES = [
    C(None, ["r5", "r4", "r3", "r2", "r1"], "all", id="default"),
    C({}, ["r5", "r4", "r3", "r2", "r1"], "all", id="empty"),
    C({"created_at": "asc"}, ["r1", "r2", "r3", "r4", "r5"], "all", id="created-asc"),
    C({"cache_created_at": "asc"}, ["r1", "r2", "r3", "r4", "r5"], "all", id="cache-created-at"),
    C({"last_active": "desc"}, ["r5", "r4", "r3", "r2", "r1"], "all", id="last-active"),
    C({"values": {"x": "asc"}}, ["r1", "r2", "r3", "r4", "r5"], "all", id="values"),
    C({"latency": "asc"}, ["r5", "r1", "r3", "r2", "r4"], "all", id="latency-asc-nulls-last"),
    C({"latency": "desc"}, ["r2", "r3", "r1", "r5", "r4"], "all", id="latency-desc-nulls-last"),
    C({"time_to_first_token": "asc"}, ["r5", "r1", "r3", "r4", "r2"], "all", id="ttft-ties-newest-first"),
    C({"total_tokens": "desc"}, ["r2", "r1", "r4", "r5", "r3"], "all", id="total-tokens"),
    C({"completion_tokens": "asc"}, ["r5", "r4", "r1", "r3", "r2"], "all", id="completion-tokens"),
    C({"prompt_tokens": "desc"}, ["r2", "r1", "r4", "r5", "r3"], "all", id="prompt-tokens"),
    C({"user_id": "asc"}, ["r4", "r5", "r1", "r2", "r3"], "all", id="user-id"),
    C(
        {"body_model": "asc"},
        ["r4", "r3", "r5", "r1"],
        rmt("request_id", "not-equals", uid("r2")),
        id="body-model",
    ),
    C({"is_cached": "desc"}, ["r2", "r5", "r4", "r3", "r1"], "all", id="is-cached-desc"),
    C({"is_cached": "asc"}, ["r5", "r4", "r3", "r1", "r2"], "all", id="is-cached-asc"),
    C(
        {"request_prompt": "asc"},
        ["r4", "r2", "r5", "r3"],
        rmt("request_id", "not-equals", uid("r1")),
        id="request-prompt",
    ),
    C(
        {"request_prompt": "desc"},
        ["r5", "r2", "r4", "r3"],
        rmt("request_id", "not-equals", uid("r1")),
        id="request-prompt-desc",
    ),
    C(
        {"response_text": "asc"},
        ["r5", "r4", "r3", "r2"],
        rmt("request_id", "not-equals", uid("r1")),
        id="response-text",
    ),
    C({"cost": "asc"}, ["r3", "r4", "r1", "r2", "r5"], "all", id="cost"),
    C({"properties": {"env": "asc"}}, ["r2", "r5", "r1", "r4", "r3"], "all", id="property-asc"),
    C({"properties": {"env": "desc"}}, ["r5", "r1", "r2", "r4", "r3"], "all", id="property-desc"),
    C({"properties": {"Helicone-Session-Path": "asc"}}, ["r1", "r4", "r5", "r3", "r2"], "all", id="session"),
    C({"cost": "asc", "latency": "desc"}, ["r2", "r3", "r1", "r5", "r4"], "all", id="first-key-wins"),
    C({"created_at": None, "latency": "asc"}, ["r5", "r1", "r3", "r2", "r4"], "all", id="null-key-skipped"),
    C(
        {"properties": {"env": "asc"}, "cost": "asc"},
        ["r3", "r4", "r1", "r2", "r5"],
        "all",
        id="scalar-key-before-properties",
    ),
    C({"random": False, "cost": "asc"}, ["r3", "r4", "r1", "r2", "r5"], "all", id="random-false"),
]


@pytest.mark.parametrize(("sort", "expected", "node"), SORT_CASES)
def test_sort(seeded: sa.Engine, sort: object, expected: list[str], node: object) -> None:
    assert ordered(seeded, sort, node) == expected


def test_random_sort_runs(seeded: sa.Engine) -> None:
    assert sorted(ordered(seeded, {"random": True, "latency": "asc"})) == sorted(ALL)


ERROR_CASES = [
    C({"foo": {}}, "unknown filter table 'foo'", id="unknown-table"),
    C(
        {"sessions_request_response_rmt": {"session_total_cost": {"gt": 1}}},
        "filter field 'sessions_request_response_rmt.session_total_cost' compares a session's totals: "
        "it applies to POST /v1/session/query and /v1/session/count only",
        id="session-total-outside-sessions",
    ),
    C(
        {"users_view": {"user_cost": {"gt": 1}}},
        "filter field 'users_view.user_cost' compares a user's totals: "
        "it applies to POST /v1/user/metrics/query only",
        id="user-total-outside-users",
    ),
    C(
        {"users_view": {"nope": {"equals": 1}}},
        "unknown filter field 'users_view.nope'",
        id="unknown-user-field",
    ),
    C(rmt("nope", "equals", 1), "unknown filter field 'request_response_rmt.nope'", id="unknown-field"),
    C(
        rmt("node_id", "equals", "x"),
        "filter field 'request_response_rmt.node_id' is not supported",
        id="node",
    ),
    C(rmt("job_id", "equals", "x"), "filter field 'request_response_rmt.job_id' is not supported", id="job"),
    C(
        rmt("assets", "equals", "x"),
        "filter field 'request_response_rmt.assets' is not supported",
        id="assets",
    ),
    C(
        {"request_response_rmt": {"search_properties": {"k": {"equals": "x"}}}},
        "filter field 'request_response_rmt.search_properties' is not supported",
        id="search-properties",
    ),
    C(
        {"request": {"auth_hash": {"equals": "x"}}},
        "filter field 'request.auth_hash' is not supported",
        id="auth-hash",
    ),
    C(
        {"request": {"node_id": {"equals": "x"}}},
        "filter field 'request.node_id' is not supported",
        id="legacy-node",
    ),
    C({"feedback": {"id": {"equals": "x"}}}, "filter field 'feedback.id' is not supported", id="feedback-id"),
    C({"response": {"body": {"equals": "x"}}}, "unknown filter field 'response.body'", id="legacy-unknown"),
    C(
        rmt("status", "invalid-operator", 200),
        "unknown operator 'invalid-operator' for field 'request_response_rmt.status'",
        id="unknown-operator-golden",
    ),
    C(
        rmt("model", "gt", 5),
        "operator 'gt' is not valid for text field 'request_response_rmt.model'",
        id="text-gt",
    ),
    C(
        rmt("latency", "like", "1%"),
        "operator 'like' is not valid for number field 'request_response_rmt.latency'",
        id="number-like",
    ),
    C(
        rmt("cost", "contains", "1"),
        "operator 'contains' is not valid for number field 'request_response_rmt.cost'",
        id="cost",
    ),
    C(
        rmt("request_created_at", "not-equals", T0),
        "operator 'not-equals' is not valid for timestamp field 'request_response_rmt.request_created_at'",
        id="time-not-equals",
    ),
    C(
        rmt("threat", "not-equals", True),
        "operator 'not-equals' is not valid for boolean field 'request_response_rmt.threat'",
        id="bool-not-equals",
    ),
    C(
        rmt("request_id", "gt", "a"),
        "operator 'gt' is not valid for text field 'request_response_rmt.request_id'",
        id="uuid-gt",
    ),
    C(
        rmt("model", "vector-contains", "a"),
        "operator 'vector-contains' is not valid for text field 'request_response_rmt.model'",
        id="vector-contains",
    ),
    C(
        score("quality", "like", "1"),
        "operator 'like' is not valid for number field 'request_response_rmt.scores.quality'",
        id="score-like",
    ),
    C(
        props("env", "gt", "a"),
        "operator 'gt' is not valid for text field 'request_response_rmt.properties.env'",
        id="prop-gt",
    ),
    C(
        rmt("latency", "equals", "abc"),
        "invalid number value 'abc' for field 'request_response_rmt.latency'",
        id="number-string",
    ),
    C(
        rmt("latency", "equals", True),
        "invalid number value True for field 'request_response_rmt.latency'",
        id="number-bool",
    ),
    C(
        rmt("latency", "equals", "NaN"),
        "invalid number value 'NaN' for field 'request_response_rmt.latency'",
        id="nan",
    ),
    C(
        rmt("latency", "gt", float("nan")),
        "invalid number value nan for field 'request_response_rmt.latency'",
        id="nan-float",
    ),
    C(
        rmt("latency", "gt", "Infinity"),
        "invalid number value 'Infinity' for field 'request_response_rmt.latency'",
        id="inf-string",
    ),
    C(
        rmt("request_created_at", "gt", float("nan")),
        "invalid timestamp value nan for field 'request_response_rmt.request_created_at'",
        id="timestamp-nan",
    ),
    C(
        {"request_response_rmt": {"properties": {"a\x00": {"equals": "x"}}}},
        "property name 'a\\x00' in 'request_response_rmt.properties' must not contain NUL characters",
        id="property-name-nul",
    ),
    C(
        {"values": {"a\x00": {"equals": "x"}}},
        "property name 'a\\x00' in 'values' must not contain NUL characters",
        id="legacy-property-name-nul",
    ),
    C(
        score("q\x00", "equals", 1),
        "score name 'q\\x00' in 'request_response_rmt.scores' must not contain NUL characters",
        id="score-name-nul",
    ),
    C(
        rmt("model", "ilike", "%" * 8_001),
        "ilike pattern for field 'request_response_rmt.model' is 8,001 characters long; like and ilike "
        "patterns may have at most 8,000 (contains matches longer text literally)",
        id="long-ilike",
    ),
    C(
        {"request": {"prompt": {"like": "x" * 50_000}}},
        "like pattern for field 'request.prompt' is 50,000 characters long; like and ilike "
        "patterns may have at most 8,000 (contains matches longer text literally)",
        id="long-like",
    ),
    C(
        rmt("model", "equals", "x" * 100_000 + "\x00"),
        "text value for field 'request_response_rmt.model' must not contain NUL characters",
        id="long-text-nul",
    ),
    C(
        rmt("latency", "gt", "y" * 1_000_000),
        "invalid number value 'yyyyyyyyyyyyyyyyyyyyyyyyyyy...yyyyyyyyyyyyyyyyyyyyyyyyyyyy' for field "
        "'request_response_rmt.latency'",
        id="long-value-shown-short",
    ),
    C(
        rmt("latency", "gt", [1]),
        "invalid number value [1] for field 'request_response_rmt.latency'",
        id="number-list",
    ),
    C(
        rmt("cost", "gte", "cheap"),
        "invalid number value 'cheap' for field 'request_response_rmt.cost'",
        id="cost-string",
    ),
    C(
        rmt("threat", "equals", "yes"),
        "invalid boolean value 'yes' for field 'request_response_rmt.threat'",
        id="bool-string",
    ),
    C(
        rmt("cached", "equals", 1),
        "invalid boolean value 1 for field 'request_response_rmt.cached'",
        id="bool-int",
    ),
    C(
        rmt("model", "equals", 5),
        "invalid text value 5 for field 'request_response_rmt.model'",
        id="text-int",
    ),
    C(
        rmt("model", "equals", "a\x00b"),
        "text value for field 'request_response_rmt.model' must not contain NUL characters",
        id="text-nul",
    ),
    C(
        rmt("request_created_at", "gte", "yesterday"),
        "invalid timestamp value 'yesterday' for field 'request_response_rmt.request_created_at'",
        id="timestamp",
    ),
    C(
        rmt("request_created_at", "gte", True),
        "invalid timestamp value True for field 'request_response_rmt.request_created_at'",
        id="timestamp-bool",
    ),
    C(
        score("quality", "equals", "abc"),
        "invalid number value 'abc' for field 'request_response_rmt.scores.quality'",
        id="score-value",
    ),
    C(
        rmt("scores_column", "equals", "x"),
        "field 'request_response_rmt.scores_column' only supports equals or not-equals \"{}\"",
        id="scores-column",
    ),
    C(
        rmt("scores_column", "gt", "{}"),
        "field 'request_response_rmt.scores_column' only supports equals or not-equals \"{}\"",
        id="scores-column-op",
    ),
    C(
        rmt("property_key", "like", "env"),
        "operator 'like' is not valid for field 'request_response_rmt.property_key' (only 'equals')",
        id="property-key-op",
    ),
    C(
        rmt("property_key", "equals", 3),
        "invalid text value 3 for field 'request_response_rmt.property_key'",
        id="property-key",
    ),
    C(both("xor", "all", "all"), "invalid filter operator 'xor': expected 'and' or 'or'", id="xor"),
    C({"left": "all", "operator": "and"}, "filter branch is missing 'right'", id="missing-right"),
    C({"operator": "or", "right": "all"}, "filter branch is missing 'left'", id="missing-left"),
    C("foo", "invalid filter node: expected an object, got 'foo'", id="string-node"),
    C(None, "invalid filter node: expected an object, got None", id="none-node"),
    C([], "invalid filter node: expected an object, got []", id="list-node"),
    C(
        {"request_response_rmt": "x"},
        "invalid filter table 'request_response_rmt': expected an object, got 'x'",
        id="table-not-object",
    ),
    C(
        {"request_response_rmt": {"model": "gpt"}},
        "invalid operators for field 'request_response_rmt.model': expected an object, got 'gpt'",
        id="ops-not-object",
    ),
    C(
        {"request_response_rmt": {"model": {}}},
        "no operator given for field 'request_response_rmt.model'",
        id="no-operator",
    ),
    C(
        {"request_response_rmt": {"properties": {"env": {}}}},
        "no operator given for field 'request_response_rmt.properties.env'",
        id="no-property-operator",
    ),
    C(both("and", "all", {"bogus": {}}), "unknown filter table 'bogus'", id="error-inside-tree"),
]


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
@pytest.mark.parametrize(("node", "message"), ERROR_CASES)
def test_filter_errors(node: object, message: str, dialect_name: str) -> None:
    with pytest.raises(FilterError) as caught:
        request_filter_clause(node, dialect=dialect_name)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("sort", "message"),
    [
        C({"latency": "up"}, "invalid sort direction 'up' for 'latency': expected 'asc' or 'desc'", id="dir"),
        C(
            {"created_at": "DESC"},
            "invalid sort direction 'DESC' for 'created_at': expected 'asc' or 'desc'",
            id="dir-case",
        ),
        C(
            {"properties": {"env": "sideways"}},
            "invalid sort direction 'sideways' for 'properties.env': expected 'asc' or 'desc'",
            id="prop-dir",
        ),
        C(
            {"properties": {"bad key": "asc"}},
            "invalid property sort key 'bad key': use letters, digits, '_' and '-'",
            id="prop-key",
        ),
        C(
            {"properties": {"x;drop": "asc"}},
            "invalid property sort key 'x;drop': use letters, digits, '_' and '-'",
            id="prop-key-injection",
        ),
        C({"properties": "env"}, "invalid properties sort: expected an object, got 'env'", id="prop-shape"),
        C({"random": "yes"}, "invalid sort value 'yes' for 'random': expected a boolean", id="random"),
        C("created_at", "invalid sort: expected an object, got 'created_at'", id="not-object"),
    ],
)
def test_sort_errors(sort: object, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        request_order_by(sort, dialect="sqlite")
    assert str(caught.value) == message


def test_filter_error_is_a_value_error() -> None:
    assert issubclass(FilterError, ValueError)


def test_unknown_dialect_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unsupported dialect"):
        request_filter_clause("all", dialect="mysql")


def test_uuid_text_and_like_helpers(seeded: sa.Engine) -> None:
    name = seeded.dialect.name
    cache_text = sql_dialect.uuid_text(requests.c.cache_reference_id, name)
    query = sa.select(requests.c.id, cache_text).where(requests.c.organization_id == ORG_A)
    with seeded.connect() as conn:
        texts = {NAMES[row[0]]: row[1] for row in conn.execute(query)}
        assert texts == {"r1": None, "r2": uid("r1"), "r3": None, "r4": None, "r5": None}
        literal = sa.literal("a*b[c]?d%_\\", sa.Text())
        checks = {
            "a*b[c]?d%_\\": True,  # a trailing backslash is a literal backslash
            "a*b[c]?d\\%\\_\\\\": True,
            "a_b[c]?d%": True,
            "A*B%": False,
            "a?b%": False,
        }
        for pattern, expected in checks.items():
            assert conn.scalar(sa.select(sql_dialect.case_sensitive_like(literal, pattern, name))) == expected
            insensitive = sql_dialect.folded_like(
                sql_dialect.folded_text(literal, name), pattern.upper(), name
            )
            assert conn.scalar(sa.select(insensitive)) == (expected or pattern == "A*B%")
        assert len(conn.scalars(sa.select(requests.c.id).order_by(sql_dialect.random_order(name))).all()) == 6


ENV_PROD = {"request_response_rmt": {"properties": {"env": {"equals": "prod"}}}}
MODEL_X = {"request_response_rmt": {"model": {"equals": "x"}}}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (ENV_PROD, (("env", "prod"), {})),
        ({"properties": {"env": {"equals": "prod"}}}, (("env", "prod"), {})),
        (
            {"left": MODEL_X, "operator": "and", "right": ENV_PROD},
            (("env", "prod"), {"left": MODEL_X, "operator": "and", "right": {}}),
        ),
        (
            {
                "request_response_rmt": {
                    "model": {"equals": "x"},
                    "properties": {"env": {"equals": "prod", "like": "p%"}},
                }
            },
            (
                ("env", "prod"),
                {"request_response_rmt": {"model": {"equals": "x"}, "properties": {"env": {"like": "p%"}}}},
            ),
        ),
        ({"left": MODEL_X, "operator": "or", "right": ENV_PROD}, None),
        ({"request_response_rmt": {"properties": {"env": {"contains": "prod"}}}}, None),
        ({"request_response_rmt": {"properties": {"env": {"equals": "null"}}}}, None),
        ({"request_response_rmt": {"properties": {"Helicone-Session-Id": {"equals": "s"}}}}, None),
        ("all", None),
    ],
)
def test_split_equality_property_takes_out_only_a_required_equality(node: object, expected: object) -> None:
    assert split_equality_property(node) == expected


def _compiled(node: object) -> str:
    clause = request_filter_clause(node, dialect="postgresql")
    return str(sa.select(requests.c.seq).where(clause).compile(dialect=postgresql.dialect()))


def test_many_side_table_conditions_are_not_planned_as_joins_on_postgresql() -> None:
    """PostgreSQL plans each EXISTS of a top-level AND as a semi-join, in time about the fourth power
    of their number (320 property conditions took 100 s to plan). Past the eighth, each is wrapped in
    ``IS true``, which PostgreSQL does not pull up."""
    few = {"properties": {f"k{i}": {"equals": "v"} for i in range(8)}}
    many = {"properties": {f"k{i}": {"not-equals" if i % 2 else "equals": "v"} for i in range(12)}}
    assert "IS true" not in _compiled(few)
    # The first eight keep their join plans; only the conditions past them are wrapped.
    assert _compiled(many).count("IS true") == 4
    # EXISTS under OR is never pulled up: twenty alternatives beside one required property stay bare.
    alternatives = _chain("or", [props("region", "equals", f"r{i}") for i in range(20)], left_deep=True)
    assert "IS true" not in _compiled(both("and", props("env", "equals", "prod"), alternatives))
    nested_ands = _chain("and", [props(f"k{i}", "equals", "v") for i in range(10)], left_deep=False)
    assert _compiled(both("and", nested_ands, alternatives)).count("IS true") == 2


@pytest.mark.parametrize("negate", [False, True], ids=["exists", "not-exists"])
def test_many_side_table_conditions_give_the_same_answer(seeded: sa.Engine, negate: bool) -> None:
    op = "not-equals" if negate else "equals"
    padding = [props(f"absent-{i}", "not-equals", "x") for i in range(20)]
    node = _chain("and", [props("env", op, "prod"), *padding], left_deep=True)
    assert matched(seeded, node) == matched(seeded, props("env", op, "prod"))
