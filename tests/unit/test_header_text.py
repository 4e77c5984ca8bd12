"""Header values as text: UTF-8, with Latin-1 only for the bytes that are not valid UTF-8."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from heliograph.header_text import header_text, redecoded


def test_utf8_values_are_their_text() -> None:
    assert header_text("日本".encode()) == "日本"
    assert header_text("Café ☕ 山田".encode()) == "Café ☕ 山田"
    assert header_text(b"plain") == "plain"


def test_bytes_that_are_not_utf8_fall_back_to_latin_1_one_by_one() -> None:
    assert header_text(b"caf\xe9") == "café"  # a Latin-1 client
    assert header_text("日".encode() + b"\xff" + "本".encode()) == "日ÿ本"
    assert header_text(b"\xed\xa0\x80") == "í\xa0\x80"  # an encoded surrogate is not UTF-8 either


def test_values_a_server_decoded_as_latin_1_are_read_again() -> None:
    assert redecoded("日本".encode().decode("latin-1")) == "日本"
    assert redecoded("café") == "café"  # Latin-1 bytes stay Latin-1
    assert redecoded("日本") == "日本"  # already text (not Latin-1): left alone


@given(st.text(st.characters(exclude_categories=["Cs"])))  # lone surrogates have no UTF-8
def test_any_text_sent_as_utf8_comes_back(text: str) -> None:
    raw = text.encode()
    assert header_text(raw) == text
    assert redecoded(raw.decode("latin-1")) == text


@given(st.binary())
def test_any_bytes_give_text_that_can_be_stored(raw: bytes) -> None:
    text = header_text(raw)
    text.encode("utf-8")  # no lone surrogates: every database can store it
    assert len(text) <= len(raw)
