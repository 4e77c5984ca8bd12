"""Stored JSON: orjson's text when it can, a bounded lossless encoding when it cannot."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heliograph.storage.stored_json import DEEP_JSON_KEY, MAX_DEPTH, dumps, dumps_unbounded, encode


def nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def depth_of(value: Any) -> int:
    """Levels of a ``[[...]]`` chain, reading through depth markers."""
    levels = 0
    while True:
        if type(value) is list:
            [value] = value
            levels += 1
        elif type(value) is dict and DEEP_JSON_KEY in value:
            value = orjson.loads(value[DEEP_JSON_KEY])
        else:
            return levels


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
)


@given(json_values)
def test_the_slow_encoder_writes_what_orjson_writes(value: Any) -> None:
    assert encode(value, max_depth=MAX_DEPTH) == orjson.dumps(value).decode()
    sorted_text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    assert encode(value, max_depth=None, sort_keys=True) == sorted_text


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1, 300, 1020])
def test_deep_values_are_cut_at_the_limit_and_kept_as_text(levels: int) -> None:
    text = dumps({"a": nested(levels)})
    stored = orjson.loads(text)  # every reader can parse it
    orjson.dumps(stored)  # and encode it again
    assert depth_of(stored["a"]) == levels
    if levels + 1 > MAX_DEPTH:
        assert DEEP_JSON_KEY in text
    else:
        assert text == orjson.dumps({"a": nested(levels)}).decode()


def test_unbounded_text_is_plain_json() -> None:
    text = dumps_unbounded(nested(900))
    assert text == "[" * 900 + "1" + "]" * 900


def test_values_orjson_refuses_are_encoded() -> None:
    value = {"big": 2**70, "lone": "a\ud800b", "nan": float("nan"), "tuple": (1, 2), 3: "three"}
    text = dumps(value)
    assert json.loads(text) == {"big": 2**70, "lone": "a\ud800b", "nan": None, "tuple": [1, 2], "3": "three"}
    text.encode("utf-8")  # storable: the lone surrogate is escaped


def test_a_shallow_container_at_the_limit_is_kept() -> None:
    # The marker replaces only containers that would push the document past the limit.
    text = dumps([nested(MAX_DEPTH - 2, "x"), nested(MAX_DEPTH)])
    stored = orjson.loads(text)
    assert depth_of(stored[0]) == MAX_DEPTH - 2
    assert depth_of(stored[1]) == MAX_DEPTH
