"""KeyVerifier's cache holds a bounded amount whatever callers present: absurdly long keys are refused
without a query or an entry, entries have a fixed size, and expired ones leave."""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa

from heliograph.clock import new_ids, system_clock
from heliograph.services.keys import MAX_CACHED_KEYS, MAX_PRESENTED_KEY_CHARS, KeyVerifier, create_key


def _key_queries(engine: sa.Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_keys" in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    return seen


def test_a_key_longer_than_any_issued_is_refused_without_a_query_or_a_cache_entry(engine: sa.Engine) -> None:
    key, _ = create_key(
        engine, organization="acme", name="t", permissions="rw", clock=system_clock, ids=new_ids
    )
    verifier = KeyVerifier(engine, ttl_ms=5_000, clock=system_clock)
    queries = _key_queries(engine)
    assert verifier.verify("Bearer " + "x" * 60_000) is None
    assert verifier.verify(f"Bearer {key}" + " " * MAX_PRESENTED_KEY_CHARS) is None
    assert (len(queries), len(verifier)) == (0, 0)
    # The keys this server issues, as clients send them, are far below the bound.
    assert verifier.verify(f"  Bearer   {key}  ") is not None
    assert len(verifier) == 1


def test_expired_answers_leave_the_cache(engine: sa.Engine) -> None:
    now = [1_000_000]
    verifier = KeyVerifier(engine, ttl_ms=1_000, clock=lambda: now[0])
    for _ in range(50):
        assert verifier.verify(f"Bearer sk-heliograph-{secrets.token_hex(16)}") is None
    assert len(verifier) == 50
    now[0] += 1_001
    assert verifier.verify("Bearer sk-heliograph-another") is None
    assert len(verifier) == 1  # the 50 expired refusals are gone, not kept until the cache is full


def test_the_cache_keeps_at_most_its_bound(engine: sa.Engine) -> None:
    now = [1_000_000]
    verifier = KeyVerifier(engine, ttl_ms=60_000, clock=lambda: now[0], max_entries=30)
    for index in range(50):
        verifier.verify(f"Bearer {index:0>200}")
    assert len(verifier) == 30
    assert MAX_CACHED_KEYS == 10_000  # the server's bound: about 2 MB of entries
