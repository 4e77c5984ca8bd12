"""Model price lookup and cost calculation (Helicone's legacy ``costOf`` / ``costOfPrompt``).

Costs are integers in nano-USD (``round(USD * 1e9)``), the unit Helicone stores and its API returns.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Literal, cast

Operator = Literal["equals", "startsWith", "includes"]
_OPERATORS: frozenset[str] = frozenset({"equals", "startsWith", "includes"})

# Callers pass whatever the client or gateway called the provider; the table uses Helicone's legacy enum.
# Azure bills OpenAI models at OpenAI prices, and Helicone binds AZURE to azure rows followed by OpenAI rows.
_PROVIDER_ALIASES: dict[str, tuple[str, ...]] = {
    "AZURE": ("AZURE", "OPENAI"),
    "GEMINI": ("GOOGLE",),
    "VERTEX": ("GOOGLE",),
    "GOOGLE-AI-STUDIO": ("GOOGLE",),
    "XAI": ("X",),
    "GROK": ("X",),
}

# USD per 1M tokens -> nano-USD per token is a factor of 1e9 / 1e6.


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One price row. Rates are USD per 1M tokens; a missing cache rate means "bill at ``input``"."""

    provider: str
    match: str
    operator: Operator
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one call, in OpenAI's convention (callers normalise other providers first).

    * ``prompt_tokens`` is the TOTAL prompt count and already includes ``cache_read_tokens``,
      ``cache_write_tokens`` and ``prompt_audio_tokens``; the uncached text part is the remainder
      (never below 0). Anthropic's ``input_tokens`` excludes cache tokens, so its callers must add them.
    * ``completion_tokens`` already includes ``reasoning_tokens`` and ``completion_audio_tokens``.
      Reasoning is billed at the output rate through ``completion_tokens`` only; ``reasoning_tokens``
      is informational and never added a second time.
    """

    prompt_tokens: int
    completion_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    prompt_audio_tokens: int = 0
    completion_audio_tokens: int = 0


# Rates become integers in units of 1e-6 nano-USD per token (USD per 1M tokens x 1e9): every rate in the
# table has at most nine decimals, so the arithmetic below is exact and needs no Decimal per call.
_UNITS_PER_NANO = 1_000_000
#: Larger token counts are junk, whatever their source. Below it, costs stay inside the int64 (BIGINT)
#: columns: 2**40 tokens at $1,000 per million is 1.1e18 nano-USD, against a limit of 9.2e18.
MAX_TOKEN_COUNT = 1 << 40


@functools.cache
def _units(value: float) -> int:
    # str() yields the shortest repr (the CSV literal), so 2.5 stays exactly 2.5 rather than a binary float.
    return int(Decimal(str(value)) * 1_000_000_000)


def cost_nanos(price: ModelPrice, usage: TokenUsage) -> int:
    """Cost of ``usage`` at ``price`` in nano-USD, following Helicone's legacy ``costOfPrompt``."""
    input_rate = _units(price.input)
    output_rate = _units(price.output)
    # `is None`, not falsiness: an explicit 0.0 cache rate (free cache hits) must stay 0, as with JS `??`.
    read_rate = input_rate if price.cache_read is None else _units(price.cache_read)
    write_rate = input_rate if price.cache_write is None else _units(price.cache_write)
    # No audio rates in the table: Helicone falls back to text rates, so audio shares input/output rates.
    cache_read = max(usage.cache_read_tokens, 0)
    cache_write = max(usage.cache_write_tokens, 0)
    audio_in = max(usage.prompt_audio_tokens, 0)
    audio_out = max(usage.completion_audio_tokens, 0)
    text_in = max(usage.prompt_tokens - cache_read - cache_write - audio_in, 0)
    text_out = max(usage.completion_tokens - audio_out, 0)
    total = (
        (text_in + audio_in) * input_rate
        + cache_write * write_rate
        + cache_read * read_rate
        + (text_out + audio_out) * output_rate
    )
    # Helicone rounds with JS Math.round (half up), not Python's banker's rounding.
    return (total + _UNITS_PER_NANO // 2) // _UNITS_PER_NANO


def _matches(operator: str, value: str, model: str) -> bool:
    if operator == "equals":
        return model == value
    if operator == "startsWith":
        return model.startswith(value)
    return value in model


def _parse_rate(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def parse_price_csv(text: str) -> list[ModelPrice]:
    """Parse rows in the ``model-prices.csv`` format; raises ``ValueError`` on an unknown operator."""
    rows: list[ModelPrice] = []
    for record in csv.DictReader(io.StringIO(text)):
        operator = record["operator"].strip()
        if operator not in _OPERATORS:
            raise ValueError(f"unknown operator {operator!r} for model {record['model_match']!r}")
        rows.append(
            ModelPrice(
                provider=record["provider"].strip().upper(),
                match=record["model_match"].strip(),
                operator=cast(Operator, operator),
                input=float(record["input_per_1m_usd"]),
                output=float(record["output_per_1m_usd"]),
                cache_read=_parse_rate(record["cache_read_per_1m_usd"]),
                cache_write=_parse_rate(record["cache_write_per_1m_usd"]),
            )
        )
    return rows


_Entry = tuple[str, ModelPrice]  # (lower-cased match value, row)
_FIND_CACHE_SIZE = 10_000


class PriceTable:
    """Ordered price rows; the first matching row wins, so file order is significant."""

    def __init__(self, rows: Iterable[ModelPrice]) -> None:
        self._all: tuple[_Entry, ...] = tuple((row.match.lower(), row) for row in rows)
        by_provider: dict[str, list[_Entry]] = {}
        for entry in self._all:
            by_provider.setdefault(entry[1].provider.upper(), []).append(entry)
        self._by_provider = {name: tuple(entries) for name, entries in by_provider.items()}
        self._found: dict[tuple[str | None, str], ModelPrice | None] = {}

    @classmethod
    def default(cls) -> PriceTable:
        """The table shipped with the package (loaded once per process)."""
        return _default_table()

    @property
    def rows(self) -> tuple[ModelPrice, ...]:
        return tuple(row for _, row in self._all)

    def __len__(self) -> int:
        return len(self._all)

    def _scope(self, provider: str | None) -> tuple[_Entry, ...]:
        # Unknown or table-less providers (OPENROUTER, LOCAL, empty) search every row: OTLP spans often
        # carry only a model name, and pricing them at 0 like Helicone does would hide real spend.
        key = (provider or "").strip().upper()
        names = _PROVIDER_ALIASES.get(key, (key,))
        scoped = tuple(entry for name in names for entry in self._by_provider.get(name, ()))
        return scoped or self._all

    def find(self, provider: str | None, model: str) -> ModelPrice | None:
        """First row matching ``model`` (case-insensitive) among ``provider``'s rows, or ``None``."""
        # Every logged call prices itself, and traffic repeats a handful of (provider, model) pairs.
        key = (provider, model)
        if key in self._found:
            return self._found[key]
        if len(self._found) >= _FIND_CACHE_SIZE:
            self._found.clear()
        price = self._found[key] = self._search(provider, model)
        return price

    def _search(self, provider: str | None, model: str) -> ModelPrice | None:
        wanted = model.strip().lower()
        if not wanted:
            return None
        entries = self._scope(provider)
        candidates = [wanted]
        # Only after the full id failed: GROQ/TOGETHER ids legitimately contain "/".
        tail = wanted.rsplit("/", 1)[-1]
        if tail and tail != wanted:
            candidates.append(tail)
        for candidate in candidates:
            for value, row in entries:
                if _matches(row.operator, value, candidate):
                    return row
        return None

    def cost_nanos(self, provider: str | None, model: str, usage: TokenUsage) -> int:
        """Cost in nano-USD; 0 when the model is empty or unpriced."""
        price = self.find(provider, model)
        return 0 if price is None else cost_nanos(price, usage)


@functools.cache
def _default_table() -> PriceTable:
    text = resources.files("heliograph.pricing").joinpath("model-prices.csv").read_text(encoding="utf-8")
    return PriceTable(parse_price_csv(text))
