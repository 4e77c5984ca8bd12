"""Time buckets: the SQL of both databases and Python's arithmetic put every instant in the same bucket,
at every increment and time-zone offset (gap filling relies on it)."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heliograph.storage.time_buckets import INCREMENTS, bucket_expression, bucket_series, bucket_start, iso

# 1950 to 2100, in epoch ms.
INSTANTS = st.integers(min_value=-631_152_000_000, max_value=4_102_444_800_000)
OFFSETS = st.integers(min_value=-1440, max_value=1440)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instant=INSTANTS, tz=OFFSETS, unit=st.sampled_from(INCREMENTS))
def test_sql_and_python_agree(engine: sa.Engine, instant: int, tz: int, unit: str) -> None:
    expression = bucket_expression(sa.literal(instant, sa.BigInteger), unit, tz, engine.dialect.name)
    with engine.connect() as connection:
        in_sql = connection.execute(sa.select(expression)).scalar_one()
    assert in_sql == bucket_start(instant, unit, tz), (iso(instant), unit, tz)


@given(instant=INSTANTS, tz=OFFSETS, unit=st.sampled_from(INCREMENTS))
def test_a_bucket_holds_its_instants(instant: int, tz: int, unit: str) -> None:
    start = bucket_start(instant, unit, tz)
    assert start <= instant
    following = bucket_series(start, instant + 1, unit, tz)
    assert following[0] == start
    assert len(following) <= 2
    if len(following) == 2:
        assert following[1] > instant


def test_known_buckets() -> None:
    at = 1_773_109_800_000  # 2026-03-10T02:30:00Z, a Tuesday
    assert iso(bucket_start(at, "day", 0)) == "2026-03-10T00:00:00.000Z"
    assert iso(bucket_start(at, "day", 300)) == "2026-03-09T05:00:00.000Z"
    assert iso(bucket_start(at, "day", -330)) == "2026-03-09T18:30:00.000Z"
    assert iso(bucket_start(at, "week", 0)) == "2026-03-09T00:00:00.000Z"
    assert iso(bucket_start(at, "month", -60)) == "2026-02-28T23:00:00.000Z"
    assert iso(bucket_start(at, "year", 0)) == "2026-01-01T00:00:00.000Z"
    assert iso(bucket_start(at, "min", 0)) == "2026-03-10T02:30:00.000Z"
