"""The indexed-text limit: values are measured in bytes of UTF-8 and cut at a character boundary."""

from __future__ import annotations

import pytest

from heliograph.storage.text_limits import MAX_TEXT_BYTES, fits, too_long, truncate, utf8_length


@pytest.mark.parametrize("char", ["a", "é", "日", "😀"])
def test_truncation_keeps_whole_characters(char: str) -> None:
    width = len(char.encode())
    for extra in range(9):
        text = "x" * extra + char * (MAX_TEXT_BYTES // width + 2)
        cut = truncate(text)
        encoded = cut.encode()  # raises if a character was cut in two
        assert len(encoded) <= MAX_TEXT_BYTES
        assert len(encoded) > MAX_TEXT_BYTES - width  # no more than the character that did not fit
        assert text.startswith(cut)
        assert fits(cut)
        assert not fits(text)


def test_values_within_the_limit_are_kept_as_they_are() -> None:
    for text in (
        "",
        "gpt-4o",
        "a" * MAX_TEXT_BYTES,
        "😀" * (MAX_TEXT_BYTES // 4),
        "é" * (MAX_TEXT_BYTES // 2),
    ):
        assert fits(text)
        assert truncate(text) is text
    assert not fits("a" * (MAX_TEXT_BYTES + 1))
    assert truncate("a" * (MAX_TEXT_BYTES + 1)) == "a" * MAX_TEXT_BYTES


def test_a_lone_surrogate_is_measured_not_raised() -> None:
    text = "\ud800" * MAX_TEXT_BYTES
    assert utf8_length(text) == 3 * MAX_TEXT_BYTES
    assert truncate(text) == "\ud800" * (MAX_TEXT_BYTES // 3)


def test_the_message_names_the_field_and_the_size() -> None:
    assert too_long("value", "日" * 400) == f"value must be at most {MAX_TEXT_BYTES} bytes of UTF-8, got 1200"
