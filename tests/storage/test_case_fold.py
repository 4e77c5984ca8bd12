"""The case fold of case-insensitive filters (``dialect.fold_case``) is the same in SQL on both
databases as in Python, for every code point, whatever the PostgreSQL database's locale."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from heliograph.storage.dialect import fold_case, folded_text, payload_text
from heliograph.storage.engine import UnsupportedDatabase, _check_case_folding
from heliograph.storage.payloads import encode_payload
from heliograph.storage.types import CompressedText

# Every code point but NUL (PostgreSQL text cannot hold it) and the surrogates (not characters).
CODE_POINTS = [chr(code) for code in range(1, 0x110000) if not 0xD800 <= code < 0xE000]
CHUNK = 50_000


def _sql_fold(conn: sa.Connection, text: str) -> str:
    folded: str = conn.scalar(sa.select(folded_text(sa.literal(text, sa.Text()), conn.dialect.name)))
    return folded


def test_the_one_pass_fold_is_lower_then_upper_for_every_code_point() -> None:
    assert [char for char in CODE_POINTS if fold_case(char) != char.lower().upper()] == []
    cased = [char for char in CODE_POINTS if char.lower() != char or char.upper() != char]
    for start in range(0, len(cased), 500):
        # Mixed with spaces and ASCII, so Final_Sigma sees every kind of neighbour.
        text = " a".join(cased[start : start + 500]) + "".join(cased[start : start + 500])
        assert fold_case(text) == text.lower().upper()


def test_sql_fold_equals_python_for_every_code_point(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        for start in range(0, len(CODE_POINTS), CHUNK):
            chunk = "".join(CODE_POINTS[start : start + CHUNK])
            if _sql_fold(conn, chunk) != fold_case(chunk):
                wrong = {char: (_sql_fold(conn, char), fold_case(char)) for char in chunk}
                assert {c: pair for c, pair in wrong.items() if pair[0] != pair[1]} == {}


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("".join(map(chr, range(1, 128))), "".join(map(chr, range(1, 128))).upper()),  # the ASCII path
        ("Straße STRAẞE", "STRASSE STRASSE"),
        ("οδος ΟΔΟΣ σοφός", "ΟΔΟΣ ΟΔΟΣ ΣΟΦΌΣ"),  # final and medial sigma alike
        ("İı", "I\u0307I"),
        ("ǅ ﬁ K", "Ǆ FI K"),  # titlecase digraph, ligature, Kelvin sign
        ("日本語 🙂", "日本語 🙂"),
    ],
)
def test_sql_fold_of_strings(engine: sa.Engine, text: str, folded: str) -> None:
    assert fold_case(text) == folded
    with engine.connect() as conn:
        assert _sql_fold(conn, text) == folded
        assert conn.scalar(sa.select(folded_text(sa.null(), conn.dialect.name))) is None


@pytest.mark.parametrize(
    "parts",
    [
        ('{"q": "Straße"}', '{"a": "plain"}', "{}"),  # non-ASCII elsewhere in the payload
        ('{"q": "plain"}', '{"a": "ΟΔΟΣ and ǅ"}', "{}"),
        ('{"q": "plain"}', "", "{}"),  # an absent part is NULL
        ('{"q": "all ascii"}', '{"a": "also ascii"}', '{"k": "v"}'),
    ],
)
def test_folded_payload_parts(engine: sa.Engine, parts: tuple[str, str, str]) -> None:
    payload = sa.literal(encode_payload(*parts), CompressedText())
    name = engine.dialect.name
    with engine.connect() as conn:
        for part, text in enumerate(parts, start=1):
            folded = conn.scalar(sa.select(payload_text(payload, part, name, folded=True)))
            assert folded == (fold_case(text) if text else None)


@pytest.mark.only_dialects("postgresql")
def test_a_server_without_the_icu_collation_is_refused_with_the_reason(engine: sa.Engine) -> None:
    raw = engine.raw_connection()
    try:
        with pytest.raises(UnsupportedDatabase, match="no ICU collation 'no-such-collation'"):
            _check_case_folding(raw.driver_connection, None, collation="no-such-collation")
        # The connection is still usable: the failed check left no aborted transaction behind.
        cursor = raw.driver_connection.cursor()
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    finally:
        raw.close()
