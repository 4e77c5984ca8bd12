"""Context-window sizes (in tokens) of the common model families, looked up by model id.

Only the ``Helicone-Token-Limit-Exception-Handler`` uses this table: it needs to know roughly how much
a model accepts before deciding to truncate, drop messages or switch to a fallback model. Helicone reads
the same number from its model registry; we keep a small hand-written table instead of a registry.
"""

from __future__ import annotations

import re

# An approximation for the token-limit handler only, never for billing or validation: published context
# lengths of each family (as of 2025), matched by the longest prefix of the lower-cased model id, so dated
# snapshots (gpt-4o-2024-08-06) and sizes (llama-3.1-8b-instruct) share their family's entry.
CONTEXT_WINDOWS: tuple[tuple[str, int], ...] = (
    # OpenAI
    ("gpt-5", 400_000),
    ("gpt-5-chat", 128_000),
    ("gpt-4.5", 128_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("chatgpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4-1106", 128_000),
    ("gpt-4-0125", 128_000),
    ("gpt-4-vision", 128_000),
    ("gpt-4-32k", 32_768),
    ("gpt-4", 8_192),
    ("gpt-3.5-turbo-instruct", 4_096),
    ("gpt-3.5-turbo", 16_385),
    ("o1", 200_000),
    ("o1-mini", 128_000),
    ("o1-preview", 128_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    # Anthropic: both id styles, claude-3-5-sonnet-20241022 and claude-sonnet-4-20250514
    ("claude-3", 200_000),
    ("claude-sonnet-4", 200_000),
    ("claude-opus-4", 200_000),
    ("claude-haiku-4", 200_000),
    # Google
    ("gemini-1.5-pro", 2_097_152),
    ("gemini-1.5-flash", 1_048_576),
    ("gemini-2.0", 1_048_576),
    ("gemini-2.5", 1_048_576),
    # Meta, Mistral, DeepSeek
    ("llama-3.1", 131_072),
    ("llama-3.2", 131_072),
    ("llama-3.3", 131_072),
    ("mistral-large", 131_072),
    # DeepSeek publishes "128K" for both since V3.1; the smaller reading of it keeps us on the safe side.
    ("deepseek-chat", 128_000),
    ("deepseek-reasoner", 128_000),
)

# Longest prefixes first, so the first hit is the most specific one.
_BY_LENGTH = tuple(sorted(CONTEXT_WINDOWS, key=lambda entry: len(entry[0]), reverse=True))
# Routers and clouds put a vendor in front of the id: "openai/gpt-4o", "us.anthropic.claude-3-7-sonnet-...".
_VENDOR_SEPARATOR = re.compile(r"[/.]")


def context_window(model: str) -> int | None:
    """The context length of ``model`` in tokens, or ``None`` when its family is not in the table."""
    if not isinstance(model, str):
        return None
    name = model.strip().lower()
    if not name:
        return None
    # The whole id first: "gpt-4.1" must not be read as vendor "gpt-4" plus model "1".
    candidates = [name] + [name[match.end() :] for match in _VENDOR_SEPARATOR.finditer(name)]
    for candidate in candidates:
        for prefix, size in _BY_LENGTH:
            if candidate.startswith(prefix):
                return size
    return None
