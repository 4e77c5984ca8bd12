"""SQL pieces that differ between SQLite and PostgreSQL, in one place.

Each function takes the dialect name (``engine.dialect.name``: ``"sqlite"`` or ``"postgresql"``) and
returns a SQLAlchemy construct that behaves the same on both, so query modules never branch on the
dialect themselves.

LIKE patterns passed to the ``*_like`` functions use SQL LIKE syntax with backslash as the escape
character (PostgreSQL's default): ``%`` any run, ``_`` one character, ``\\x`` a literal ``x``. They are
parsed here and re-rendered for each dialect, so a trailing lone backslash (which PostgreSQL rejects)
is simply a literal backslash and no user pattern can make the database raise.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

Dialect = Literal["sqlite", "postgresql"]
DIALECTS: frozenset[str] = frozenset({"sqlite", "postgresql"})

_WILDCARDS = frozenset("%_")


def payload_text(column: sa.ColumnElement[Any], part: int, dialect: str) -> sa.ColumnElement[str]:
    """One part of a request payload column (see payloads.py), usable in SQL comparisons.

    SQLite stores the payload compressed; the ``hg_payload_part`` function every SQLite connection
    registers inflates and splits it. PostgreSQL stores plain text, split with ``split_part``. An absent
    part is NULL on both. The
    result is typed as Text so bound comparison values are not themselves compressed by the column type.
    """
    if dialect == "sqlite":
        return sa.func.hg_payload_part(column, part, type_=sa.Text())
    part_text = sa.func.split_part(sa.type_coerce(column, sa.Text()), "\n", part, type_=sa.Text())
    return sa.func.nullif(part_text, "", type_=sa.Text())


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


def case_insensitive_like(expr: sa.ColumnElement[Any], pattern: str, dialect: str) -> sa.ColumnElement[bool]:
    """``expr ILIKE pattern``: PostgreSQL ILIKE; on SQLite, LIKE over lower() of both sides.

    Lowering both sides keeps the match case-insensitive even if ``PRAGMA case_sensitive_like`` is on.
    Like SQLite's own case folding, lower() there folds ASCII letters only.
    """
    rendered = _render_like(_parse_like(pattern))
    if dialect == "sqlite":
        return sa.func.lower(expr).like(sa.func.lower(rendered), escape="\\")
    return expr.ilike(rendered, escape="\\")


def escape_like(value: str) -> str:
    """A LIKE pattern matching ``value`` literally (for substring searches on user text)."""
    return "".join("\\" + char if char in "%_\\" else char for char in value)


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
