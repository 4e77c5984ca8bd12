"""The sketch's bins: every value is within 1% of its bin's representative, and bins keep the order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from heliograph.storage.metric_sketches import EXACT_BELOW, RELATIVE_ERROR, bin_of, representative


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_a_value_is_within_one_percent_of_its_bin(value: int) -> None:
    stood_for = representative(bin_of(value))
    assert abs(stood_for - value) <= RELATIVE_ERROR * abs(value) + 1e-9


@given(st.integers(min_value=-(10**9), max_value=10**9), st.integers(min_value=-(10**9), max_value=10**9))
def test_bins_keep_the_order_of_values(first: int, second: int) -> None:
    if first <= second:
        assert bin_of(first) <= bin_of(second)


def test_small_integers_are_exact() -> None:
    assert [representative(bin_of(v)) for v in range(EXACT_BELOW + 1)] == list(range(EXACT_BELOW + 1))
