"""KeyVerifier's cache: answers (valid and refused) are reused for its lifetime, then asked again."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from heliograph.clock import new_ids, system_clock
from heliograph.services.keys import KeyVerifier, create_key
from heliograph.storage import keys_repo


def _count_queries(engine: sa.Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_keys" in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    return seen


def test_answers_are_cached_for_the_lifetime_then_rechecked(engine: sa.Engine) -> None:
    now = [1_000_000]
    key, _ = create_key(
        engine, organization="acme", name="t", permissions="rw", clock=system_clock, ids=new_ids
    )
    verifier = KeyVerifier(engine, ttl_ms=5_000, clock=lambda: now[0])
    queries = _count_queries(engine)

    assert verifier.verify(key) is not None
    assert verifier.verify("sk-heliograph-wrong") is None
    assert len(queries) == 2
    # Within the lifetime: neither the good nor the wrong key costs a query.
    assert verifier.verify(key) is not None
    assert verifier.verify("sk-heliograph-wrong") is None
    assert len(queries) == 2

    with engine.begin() as conn:
        assert keys_repo.revoke_key(conn, _key_id(engine), now[0])
    before = len(queries)
    now[0] += 5_001
    assert verifier.verify(key) is None  # the revocation is seen once the entry expires
    assert verifier.verify("sk-heliograph-wrong") is None
    assert len(queries) == before + 2


def _key_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT id FROM api_keys").scalar_one())
