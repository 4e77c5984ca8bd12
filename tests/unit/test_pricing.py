from __future__ import annotations

import pytest

from heliograph.pricing.prices import ModelPrice, PriceTable, TokenUsage, cost_nanos, parse_price_csv


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.default()


def _match(table: PriceTable, provider: str | None, model: str) -> tuple[str, str] | None:
    price = table.find(provider, model)
    return None if price is None else (price.provider, price.match)


def test_packaged_csv_loads_all_rows(table: PriceTable) -> None:
    assert len(table) == 104
    assert table.rows[0] == ModelPrice("OPENAI", "gpt-4o", "equals", 2.5, 10.0, 1.25, None)
    assert table.rows[-1].match == "sonar-reasoning-pro"
    assert PriceTable.default() is table


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        # equals must not act as a prefix: the dated id has its own (cheaper cache) row.
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
        ("o4-mini-2025-04-16", "o4-mini"),
        ("gpt-4o-realtime-preview-2024-12-17", "gpt-4o-realtime"),
        ("ft:gpt-3.5-turbo-0125:acme::abc123", "ft:gpt-3.5-turbo-"),
    ],
)
def test_operators(table: PriceTable, model: str, expected: str) -> None:
    assert _match(table, "OPENAI", model) == ("OPENAI", expected)


def test_equals_does_not_match_longer_ids(table: PriceTable) -> None:
    assert table.find("OPENAI", "gpt-4.1-preview") is None


def test_fine_tuned_starts_with(table: PriceTable) -> None:
    price = table.find("OPENAI", "ft:gpt-4o-mini-2024-07-18:org::id")
    assert price is not None
    assert (price.match, price.operator, price.input, price.output) == (
        "ft:gpt-4o-mini-2024-07-18:",
        "startsWith",
        0.3,
        1.2,
    )


def test_first_match_in_file_order_flash_lite_quirk(table: PriceTable) -> None:
    # Helicone's legacy table lists `includes gemini-2.0-flash` before flash-lite, so flash-lite is
    # priced as flash; we keep that behaviour for parity.
    price = table.find("GOOGLE", "gemini-2.0-flash-lite")
    assert price is not None
    assert (price.match, price.input, price.output) == ("gemini-2.0-flash", 0.1, 0.4)


def test_case_insensitive(table: PriceTable) -> None:
    assert _match(table, "openai", "GPT-4O") == ("OPENAI", "gpt-4o")
    assert _match(table, "together", "deepseek-ai/deepseek-v3") == ("TOGETHER", "deepseek-ai/DeepSeek-V3")


def test_provider_scoping(table: PriceTable) -> None:
    model = "meta-llama/llama-4-scout-17b-16e-instruct"
    groq = table.find("GROQ", model)
    together = table.find("TOGETHER", model)
    assert groq is not None
    assert together is not None
    assert (groq.provider, groq.input) == ("GROQ", 0.11)
    assert (together.provider, together.input) == ("TOGETHER", 0.18)
    # A known provider with rows is not widened to other providers' rows.
    assert table.find("ANTHROPIC", "gpt-4o") is None


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("azure", "gpt-4o", ("OPENAI", "gpt-4o")),
        ("AZURE", "gpt-4o-mini", ("OPENAI", "gpt-4o-mini")),
        ("anthropic", "claude-opus-4-6", ("ANTHROPIC", "claude-opus-4-6")),
        ("gemini", "gemini-2.5-pro", ("GOOGLE", "gemini-2.5-pro")),
        ("vertex", "gemini-2.5-flash", ("GOOGLE", "gemini-2.5-flash")),
        ("xai", "grok-4", ("X", "grok-4")),
        ("grok", "grok-3-mini", ("X", "grok-3-mini")),
        ("x", "grok-4-fast", ("X", "grok-4-fast")),
    ],
)
def test_provider_aliases(table: PriceTable, provider: str, model: str, expected: tuple[str, str]) -> None:
    assert _match(table, provider, model) == expected


@pytest.mark.parametrize("provider", [None, "", "OPENROUTER", "some-local-llm"])
def test_unknown_provider_searches_all_rows(table: PriceTable, provider: str | None) -> None:
    assert _match(table, provider, "claude-sonnet-4-5-20250929") == (
        "ANTHROPIC",
        "claude-sonnet-4-5-20250929",
    )
    # File order across providers: GROQ's copy of the llama-4 scout id precedes TOGETHER's.
    assert _match(table, provider, "meta-llama/Llama-4-Scout-17B-16E-Instruct") == (
        "GROQ",
        "meta-llama/llama-4-scout-17b-16e-instruct",
    )


def test_slash_prefix_fallback(table: PriceTable) -> None:
    assert _match(table, None, "openai/gpt-4o") == ("OPENAI", "gpt-4o")
    assert _match(table, "openrouter", "anthropic/claude-sonnet-4-6") == ("ANTHROPIC", "claude-sonnet-4-6")
    # The full id is tried first, so slash-containing rows still win over the stripped tail.
    assert _match(table, None, "openai/gpt-oss-120b") == ("GROQ", "openai/gpt-oss-120b")


def test_no_match(table: PriceTable) -> None:
    assert table.find(None, "totally-unknown-model") is None
    assert table.find("OPENAI", "") is None
    assert table.find(None, "openai/") is None


def test_cost_gpt_4o_one_million_prompt_tokens(table: PriceTable) -> None:
    usage = TokenUsage(prompt_tokens=1_000_000, completion_tokens=0)
    assert table.cost_nanos("OPENAI", "gpt-4o", usage) == 2_500_000_000


def test_cost_gpt_4o_with_cached_prompt(table: PriceTable) -> None:
    # OpenAI's prompt_tokens includes the 400 cached tokens: 600 x $2.5 + 400 x $1.25 + 500 x $10 per 1M.
    usage = TokenUsage(prompt_tokens=1000, completion_tokens=500, cache_read_tokens=400)
    assert table.cost_nanos("openai", "gpt-4o", usage) == 1_500_000 + 500_000 + 5_000_000


def test_cost_claude_sonnet_4_5_with_cache_read_and_write(table: PriceTable) -> None:
    # Normalised Anthropic usage: input_tokens=100 + cache_read=2000 + cache_creation=1000.
    usage = TokenUsage(
        prompt_tokens=3100, completion_tokens=200, cache_read_tokens=2000, cache_write_tokens=1000
    )
    expected = 100 * 3_000 + 2000 * 300 + 1000 * 3_750 + 200 * 15_000
    assert expected == 7_650_000
    assert table.cost_nanos("ANTHROPIC", "claude-sonnet-4-5-20250929", usage) == expected


def test_cost_without_cache_rates_uses_input_rate(table: PriceTable) -> None:
    usage = TokenUsage(
        prompt_tokens=1000, completion_tokens=10, cache_read_tokens=200, cache_write_tokens=100
    )
    # gpt-4-turbo has no cache rates: all 1000 prompt tokens at $10, 10 completion tokens at $30 per 1M.
    assert table.cost_nanos("OPENAI", "gpt-4-turbo", usage) == 1000 * 10_000 + 10 * 30_000


def test_cost_reasoning_tokens_not_double_counted(table: PriceTable) -> None:
    usage = TokenUsage(prompt_tokens=0, completion_tokens=1000, reasoning_tokens=800)
    assert table.cost_nanos("OPENAI", "o3-mini", usage) == 1000 * 4_400


def test_cost_audio_tokens_at_text_rates(table: PriceTable) -> None:
    usage = TokenUsage(
        prompt_tokens=100, completion_tokens=50, prompt_audio_tokens=60, completion_audio_tokens=30
    )
    # Audio is part of prompt/completion totals and, without audio rates, billed at text rates.
    assert table.cost_nanos("OPENAI", "gpt-4o", usage) == 100 * 2_500 + 50 * 10_000


def test_cost_cache_tokens_exceeding_prompt_never_negative(table: PriceTable) -> None:
    usage = TokenUsage(prompt_tokens=10, completion_tokens=0, cache_read_tokens=20)
    assert table.cost_nanos("OPENAI", "gpt-4o", usage) == 20 * 1_250


def test_cost_rounds_half_up(table: PriceTable) -> None:
    # $0.0375 per 1M tokens is 37.5 nano-USD per token.
    usage = TokenUsage(prompt_tokens=1, completion_tokens=0)
    assert table.cost_nanos("GOOGLE", "gemini-flash-1.5-8b", usage) == 38


def test_cost_unknown_or_empty_model_is_zero(table: PriceTable) -> None:
    usage = TokenUsage(prompt_tokens=1000, completion_tokens=1000)
    assert table.cost_nanos("OPENAI", "not-a-model", usage) == 0
    assert table.cost_nanos(None, "", usage) == 0


def test_zero_cache_rate_is_not_replaced_by_input_rate() -> None:
    price = ModelPrice("CUSTOM", "m", "equals", 1.0, 2.0, cache_read=0.0)
    assert cost_nanos(price, TokenUsage(prompt_tokens=100, completion_tokens=0, cache_read_tokens=100)) == 0


def test_custom_table_and_bad_operator() -> None:
    header = "provider,model_match,operator,input_per_1m_usd,output_per_1m_usd,"
    header += "cache_read_per_1m_usd,cache_write_per_1m_usd\n"
    rows = parse_price_csv(header + "custom,my-model,equals,1,2,,\n")
    assert rows == [ModelPrice("CUSTOM", "my-model", "equals", 1.0, 2.0, None, None)]
    assert PriceTable(rows).find("custom", "MY-MODEL") == rows[0]
    with pytest.raises(ValueError, match="unknown operator"):
        parse_price_csv(header + "custom,my-model,regex,1,2,,\n")
