"""Column types that store the same Python values compactly on both SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from heliograph.storage.compression import compress_text, decompress_text


class UUIDType(sa.types.TypeDecorator[uuid.UUID]):
    """A UUID: native ``uuid`` on PostgreSQL, 16 raw bytes on SQLite (half the size of its hex text)."""

    impl = sa.LargeBinary(16)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=True))
        return dialect.type_descriptor(sa.LargeBinary(16))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, uuid.UUID):
            value = uuid.UUID(str(value))
        return value if dialect.name == "postgresql" else value.bytes

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        if value is None:
            return None
        if isinstance(value, uuid.UUID):
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return uuid.UUID(bytes=bytes(value))
        return uuid.UUID(str(value))


class CompressedText(sa.types.TypeDecorator[str]):
    """Large text: compressed bytes on SQLite (see compression.py); plain ``text`` on PostgreSQL, where TOAST
    compresses large values itself and the text stays searchable with ILIKE."""

    impl = sa.LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return compress_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return decompress_text(bytes(value))


#: Integer primary keys that are SQLite rowid aliases (a BIGINT key would not be one).
BigIntKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
