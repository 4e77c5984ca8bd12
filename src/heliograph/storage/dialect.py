"""SQL pieces that differ between SQLite and PostgreSQL, in one place.

Each function takes the dialect name (``engine.dialect.name``: ``"sqlite"`` or ``"postgresql"``) and
returns a SQLAlchemy construct that behaves the same on both, so query modules never branch on the
dialect themselves.

LIKE patterns passed to the ``*_like`` functions use SQL LIKE syntax with backslash as the escape
character (PostgreSQL's default): ``%`` any run, ``_`` one character, ``\\x`` a literal ``x``. They are
parsed here and re-rendered for each dialect, so a trailing lone backslash (which PostgreSQL rejects)
is simply a literal backslash and no user pattern can make the database raise.

Case-insensitive matching compares both sides after ``fold_case``: Unicode's full lowercase mapping,
then its full uppercase mapping (``"Straße"``, ``"STRASSE"`` and ``"STRAẞE"`` all fold to
``"STRASSE"``; Greek final and medial small sigma both to capital sigma). Per character it groups
exactly what Unicode's full case folding groups, except that the dotless i (U+0131) also joins ``I``
and ``i``. SQLite computes it with Python (the ``hg_fold`` function every SQLite connection
registers); PostgreSQL with ICU's root locale, named explicitly so the answer does not depend on the
database's LC_CTYPE (a C-locale database folds ASCII only, a glibc one per character without ``ß`` ->
``SS``). Python and ICU agree on every code point (``tests/storage/test_case_fold.py`` checks it
against the running server).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import sqlalchemy as sa

Dialect = Literal["sqlite", "postgresql"]
DIALECTS: frozenset[str] = frozenset({"sqlite", "postgresql"})

# ICU's root locale: its case mappings are the plain Unicode ones, with no language tailoring.
ICU_ROOT_COLLATION = "und-x-icu"
# SQLite refuses LIKE and GLOB patterns over 50,000 bytes ("pattern too complex"). A folded character
# takes at most 6 bytes of UTF-8 (U+1FF7 folds to three 2-byte characters) and a GLOB-escaped one 4,
# so 8,000 characters always fit.
# Both dialects apply the same limit, so a pattern is answered alike everywhere.
MAX_PATTERN_LENGTH = 8_000

_WILDCARDS = frozenset("%_")
_LIKE_ESCAPES = {ord(char): "\\" + char for char in "%_\\"}


def fold_case(value: str) -> str:
    """The case fold that case-insensitive matching compares (see the module docstring)."""
    # upper(lower(c)) == upper(c) for every character but six (İ, ϴ, ẞ, Ω, K and Å as code points
    # U+0130, U+03F4, U+1E9E, U+2126, U+212A, U+212B), and Final_Sigma, the one context rule of lower(),
    # makes no difference once upper-cased. So text without those six folds in one pass, half the time
    # (bodies are scanned row by row). tests/storage/test_case_fold.py checks this for every code point.
    if value.isascii() or not (
        "\u0130" in value
        or "\u03f4" in value
        or "\u1e9e" in value
        or "\u2126" in value
        or "\u212a" in value
        or "\u212b" in value
    ):
        return value.upper()
    return value.lower().upper()


def folded_text(expr: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[str]:
    """``fold_case(expr)`` in SQL (NULL stays NULL). ``expr`` may be evaluated more than once: use
    ``payload_text(..., folded=True)`` for payload parts."""
    if dialect == "sqlite":
        # ASCII text (most text) folds with SQLite's own upper(), skipping a call into Python. A text is
        # ASCII when it has as many characters as bytes (a NUL also fails the test: Python folds it).
        ascii_only = sa.func.length(expr) == sa.func.length(sa.cast(expr, sa.LargeBinary()))
        return sa.case(
            (ascii_only, sa.func.upper(expr, type_=sa.Text())), else_=sa.func.hg_fold(expr, type_=sa.Text())
        )
    return _icu_fold(expr, _utf8_is_ascii(expr))


def _utf8_is_ascii(text: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    # In a UTF-8 database a text is ASCII exactly when it has as many bytes as characters.
    return sa.func.octet_length(text) == sa.func.length(text)


def _icu_fold(expr: sa.ColumnElement[Any], ascii_only: sa.ColumnElement[bool]) -> sa.ColumnElement[str]:
    # ASCII-only text folds with the plain byte-wise upper(), about 4x cheaper than ICU's two passes.
    # Folded text is compared byte for byte: collation "C" on both branches (an explicit collation
    # carries through the functions, and CASE refuses two different ones).
    ascii_fold = sa.func.upper(sa.collate(expr, "C"), type_=sa.Text())
    unicode_fold = sa.func.upper(sa.func.lower(sa.collate(expr, ICU_ROOT_COLLATION)), type_=sa.Text())
    return sa.case((ascii_only, ascii_fold), else_=sa.collate(unicode_fold, "C"))


def folded_contains(folded: sa.ColumnElement[Any], needle: str, dialect: str) -> sa.ColumnElement[bool]:
    """The folded text ``folded`` contains ``needle`` literally, ignoring case (NULL when it is NULL).

    A plain substring search, not a LIKE pattern: nothing to escape, and no pattern length limit
    (SQLite refuses LIKE patterns over 50,000 bytes; ``instr`` has no limit).
    """
    find = sa.func.instr if dialect == "sqlite" else sa.func.strpos
    position: sa.ColumnElement[int] = find(folded, fold_case(needle), type_=sa.Integer())
    return position > 0


def folded_like(folded: sa.ColumnElement[Any], pattern: str, dialect: str) -> sa.ColumnElement[bool]:
    """``ILIKE pattern`` with Unicode case folding: the folded text LIKE the folded pattern.

    Both sides are folded, so the match is exact: SQLite's LIKE, which ignores ASCII case, sees
    upper-case text only, and ``PRAGMA case_sensitive_like`` cannot change the answer. A ``_`` matches
    one character of the folded text (``"ß"`` folds to two).
    """
    del dialect  # LIKE with a backslash escape is spelled the same on both
    tokens = [
        (True, char) if wildcard else (False, fold_case(char)) for wildcard, char in _parse_like(pattern)
    ]
    return folded.like(_render_like(tokens), escape="\\")


def payload_text(
    column: sa.ColumnElement[Any], part: int, dialect: str, *, folded: bool = False
) -> sa.ColumnElement[str]:
    """One part of a request payload column (see payloads.py), usable in SQL comparisons; with
    ``folded``, that part through ``fold_case``.

    SQLite stores the payload compressed; the ``hg_payload_part`` function every SQLite connection
    registers inflates and splits it (``hg_payload_part_folded`` also folds, in the same call: a body is
    large, and folding it apart would copy it from Python to SQLite and back once more). PostgreSQL
    stores plain text, split with ``split_part``. An absent part is NULL on both. The result is typed as
    Text so bound comparison values are not themselves compressed by the column type.
    """
    if dialect == "sqlite":
        function = sa.func.hg_payload_part_folded if folded else sa.func.hg_payload_part
        return function(column, part, type_=sa.Text())
    whole = sa.type_coerce(column, sa.Text())
    part_text = sa.func.nullif(sa.func.split_part(whole, "\n", part, type_=sa.Text()), "", type_=sa.Text())
    # The ASCII test reads the whole payload column, so the part is split out only once.
    return _icu_fold(part_text, _utf8_is_ascii(whole)) if folded else part_text


def uuid_text(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[str]:
    """The canonical lower-case dashed string form of a ``UUIDType`` column (NULL stays NULL)."""
    if dialect == "postgresql":
        return sa.cast(column, sa.Text())
    digits = sa.func.lower(sa.func.hex(column))
    pieces = [sa.func.substr(digits, start, length) for start, length in ((1, 8), (9, 4), (13, 4), (17, 4))]
    dashed = sa.func.substr(digits, 21, 12)
    for piece in reversed(pieces):
        dashed = piece + "-" + dashed
    # hex(NULL) is '' in SQLite, which would read as "----".
    return sa.case((column.is_(None), sa.null()), else_=dashed)


def case_sensitive_like(expr: sa.ColumnElement[Any], pattern: str, dialect: str) -> sa.ColumnElement[bool]:
    """``expr LIKE pattern``, case-sensitive on both dialects.

    SQLite's LIKE ignores ASCII case, so there the pattern becomes a GLOB (which is case-sensitive).
    """
    tokens = _parse_like(pattern)
    if dialect == "sqlite":
        return expr.op("GLOB", is_comparison=True)(_render_glob(tokens))
    return expr.like(_render_like(tokens), escape="\\")


def escape_like(value: str) -> str:
    """A LIKE pattern matching ``value`` literally (for substring searches on user text)."""
    return value.translate(_LIKE_ESCAPES)


def insert_rows_sql(
    table: sa.Table, columns: tuple[str, ...], rows: int, dialect: str, *, ignore_conflicts: bool = True
) -> str:
    """Driver-level ``INSERT ... VALUES (...), (...) [ON CONFLICT DO NOTHING]`` for ``rows`` rows, with
    positional parameters (it skips SQLAlchemy's per-value type processing, which dominated ingest)."""
    placeholder = "?" if dialect == "sqlite" else "%s"
    names = ", ".join(columns)
    row = "(" + ", ".join([placeholder] * len(columns)) + ")"
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    return f"INSERT INTO {table.name} ({names}) VALUES {', '.join([row] * rows)}{conflict}"


def random_order(dialect: str) -> sa.ColumnElement[Any]:
    """An ORDER BY expression that shuffles rows (both dialects spell it ``random()``)."""
    del dialect
    return sa.func.random()


def _parse_like(pattern: str) -> list[tuple[bool, str]]:
    """Split a LIKE pattern into ``(is_wildcard, char)`` tokens, resolving backslash escapes."""
    tokens: list[tuple[bool, str]] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            tokens.append((False, pattern[index + 1]))
            index += 2
            continue
        tokens.append((char in _WILDCARDS, char))
        index += 1
    return tokens


def _render_like(tokens: list[tuple[bool, str]]) -> str:
    return "".join(char if wildcard else escape_like(char) for wildcard, char in tokens)


def _render_glob(tokens: list[tuple[bool, str]]) -> str:
    out: list[str] = []
    for wildcard, char in tokens:
        if wildcard:
            out.append("*" if char == "%" else "?")
        else:
            # GLOB has no escape character; a one-character bracket class matches the char itself.
            out.append(f"[{char}]" if char in "*?[" else char)
    return "".join(out)


def insert_ignoring_conflicts(table: sa.Table, dialect: str) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` as a SQLAlchemy statement (both dialects spell it the same,
    but each has its own construct)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing()


def write_transaction_start(conn: sa.Connection, dialect: str) -> None:
    """On SQLite, take the write lock at the start of a read-then-write transaction (``BEGIN IMMEDIATE``),
    so two writers serialize instead of both reading the same state; PostgreSQL callers lock rows."""
    if dialect == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def transaction_lock(conn: sa.Connection, name: str, dialect: str) -> None:
    """On PostgreSQL, wait for the advisory lock ``name`` and hold it until the transaction ends, so
    processes sharing the database (``serve --workers N``, or servers on several machines) run a
    check-then-write one at a time. Nothing on SQLite, whose callers serialize with the write lock
    (:func:`write_transaction_start`)."""
    if dialect == "postgresql":
        # Advisory locks are keyed by a 64-bit integer; a digest of the name keeps names readable.
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
