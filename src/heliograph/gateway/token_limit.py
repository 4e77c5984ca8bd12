"""``Helicone-Token-Limit-Exception-Handler``: make a request fit its model's context window.

Helicone (``worker/src/lib/util/tokenLimitException.ts``) estimates a prompt's size from its characters
(0.25 tokens per character, 0.2 for gpt-3.5-turbo), compares it with the model's context length minus the
room kept for the answer, and then either truncates the texts, drops messages from the middle of the
conversation, or switches ``model`` to the second entry of a comma-separated list ("gpt-4o, gpt-4o-mini").
The character heuristic is Helicone's on purpose: it is cheap, and it decides the same way Helicone does.

Differences from Helicone, each because its version loses text it did not need to or misses big prompts:
- the estimate also counts chat text parts, Anthropic ``system`` and ``tool_result`` texts, Responses tool
  outputs and Gemini ``contents`` (Helicone counts string message contents and Responses input only);
- ``truncate`` cuts the longest texts first (see :func:`_truncate`), where Helicone shortens every message
  in proportion and also collapses whitespace;
- ``middle-out`` drops whole messages (a tool call stays with its results), where Helicone drops text chunks;
- ``truncate`` and ``middle-out`` leave the prompt alone when ``max_tokens`` alone exceeds the window;
- ``Helicone-Model-Override`` wins over the body's model for the limit (Helicone prefers the body's model).

Nothing here raises or mutates its input: the body comes from a client, and an odd one is sent on as is.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from heliograph.gateway.context_windows import context_window

Handler = Literal["truncate", "middle-out", "fallback"]

_HANDLERS: dict[str, Handler] = {"truncate": "truncate", "middle-out": "middle-out", "fallback": "fallback"}
_TOKENS_PER_CHAR = 0.25
_GPT35_TOKENS_PER_CHAR = 0.2
# Without an explicit output limit, Helicone keeps 10% of the window for the answer.
_DEFAULT_OUTPUT_SHARE = 0.1
# truncate aims below the limit: the character heuristic is rough, and a second trip costs more.
_TRUNCATE_TARGET = 0.9
# Where the conversation lives: chat and Anthropic, Responses API, Gemini.
_MESSAGE_KEYS = ("messages", "input", "contents")
# Top-level texts outside the conversation: Anthropic, Responses API, Gemini.
_SYSTEM_KEYS = ("system", "instructions", "systemInstruction", "system_instruction")
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
_SYSTEM_ROLES = frozenset({"system", "developer"})


def parse_handler(value: str | None) -> Handler | None:
    """The handler named by the header (case-insensitive); ``None`` when there is none.

    Raises ValueError for any other value. Helicone ignores unknown values, so a misspelt handler
    silently leaves oversized prompts to fail at the provider."""
    if value is None or not value.strip():
        return None
    handler = _HANDLERS.get(value.strip().lower())
    if handler is None:
        raise ValueError(f"must be one of {', '.join(_HANDLERS)}, got {value[:50]!r}")
    return handler


def apply_token_limit(
    body: dict[str, Any], handler: Handler, *, model_override: str | None = None
) -> dict[str, Any]:
    """A copy of ``body`` made to fit the primary model's context window with ``handler``.

    The primary model is ``model_override`` when given, else the first entry of the body's ``model``; the
    returned ``model`` is always a single entry (the first, or the second after a ``fallback``).
    """
    if not isinstance(body, dict):
        return body
    result = dict(body)
    candidates = _model_candidates(body.get("model"))
    if candidates:
        result["model"] = candidates[0]
    primary = model_override.strip() if isinstance(model_override, str) and model_override.strip() else None
    primary = primary or (candidates[0] if candidates else None)
    try:
        return _handle(result, handler, primary, candidates)
    except RecursionError:
        # Only content nested hundreds of levels deep gets here; such a body is sent on as it came.
        return result


def _handle(
    result: dict[str, Any], handler: Handler, primary: str | None, candidates: list[str]
) -> dict[str, Any]:
    window = context_window(primary) if primary else None
    limit = None if window is None else window - _reserved_output(result, window)
    rate = _tokens_per_char(primary)
    if handler == "fallback":
        # Like Helicone (which compares with >= here), an unknown window also falls back: the primary
        # model may well be too small, and the second entry is what the caller chose for that case.
        over = limit is None or _estimate(result, rate) >= limit
        if over and len(candidates) > 1:
            result["model"] = candidates[1]
        return result
    # A limit of 0 or less means max_tokens alone exceeds the window: the provider rejects that request
    # whatever we cut, so cutting the user's text would only lose it.
    if limit is None or limit <= 0 or _estimate(result, rate) <= limit:
        return result
    if handler == "middle-out":
        return _middle_out(result, limit, rate)
    return _truncate(result, limit, rate)


def _model_candidates(model: Any) -> list[str]:
    if not isinstance(model, str):
        return []
    return [entry.strip() for entry in model.split(",") if entry.strip()]


def _tokens_per_char(model: str | None) -> float:
    if model and "gpt-3.5-turbo" in model.lower():
        return _GPT35_TOKENS_PER_CHAR
    return _TOKENS_PER_CHAR


def _reserved_output(body: dict[str, Any], window: int) -> int:
    """Tokens kept for the answer: the request's own output limit, else 10% of the window."""
    generation = body.get("generationConfig")
    candidates = [body.get(key) for key in ("max_tokens", "max_completion_tokens", "max_output_tokens")]
    if isinstance(generation, dict):
        candidates.append(generation.get("maxOutputTokens"))
    for value in candidates:
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        ):
            return math.ceil(value)
    return math.ceil(window * _DEFAULT_OUTPUT_SHARE)


# --- reading the prompt ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    """A prompt string, addressed by its owner so it can be replaced in place (in a copied body)."""

    holder: dict[str, Any]
    key: str

    @property
    def text(self) -> str:
        value = self.holder[self.key]
        return value if isinstance(value, str) else ""


def _estimate(body: dict[str, Any], rate: float) -> int:
    return math.ceil(_prompt_chars(body) * rate)


def _prompt_chars(body: dict[str, Any]) -> int:
    return _tool_chars(body) + sum(len(slot.text) for slot in _slots(body))


def _tool_chars(body: dict[str, Any]) -> int:
    tools = body.get("tools")
    if not tools:
        return 0
    if isinstance(tools, str):
        return len(tools)
    try:
        return len(orjson.dumps(tools, default=str).decode())
    except (TypeError, ValueError):
        return 0


def _slots(body: dict[str, Any]) -> list[_Slot]:
    """Every prompt text of ``body`` that counts towards the estimate and that truncation may shorten."""
    slots: list[_Slot] = []
    for system_key in _SYSTEM_KEYS:
        value = body.get(system_key)
        # Gemini's systemInstruction is a content object: {"parts": [{"text": ...}]}.
        slots.extend(
            _value_slots(value, "parts") if isinstance(value, dict) else _value_slots(body, system_key)
        )
    key = _message_key(body)
    if key is not None:
        for message in body[key]:
            slots.extend(_message_slots(message))
    elif isinstance(body.get("input"), str):
        slots.append(_Slot(body, "input"))
    return slots


def _message_key(body: dict[str, Any]) -> str | None:
    for key in _MESSAGE_KEYS:
        if isinstance(body.get(key), list):
            return key
    return None


def _message_slots(message: Any) -> Iterator[_Slot]:
    if not isinstance(message, dict):
        return
    yield from _value_slots(message, "content")
    yield from _value_slots(message, "parts")
    if message.get("type") == "function_call_output":
        yield from _value_slots(message, "output")


def _value_slots(holder: dict[str, Any], key: str) -> Iterator[_Slot]:
    """The texts of ``holder[key]``: a string, or a list of text parts / Gemini parts / tool results."""
    value = holder.get(key)
    if isinstance(value, str):
        yield _Slot(holder, key)
        return
    if not isinstance(value, list):
        return
    for part in value:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if isinstance(part.get("text"), str) and (kind is None or kind in _TEXT_PART_TYPES):
            yield _Slot(part, "text")
        elif kind == "tool_result":
            yield from _value_slots(part, "content")


# --- truncate -------------------------------------------------------------------------------------------


def _truncate(body: dict[str, Any], limit: int, rate: float) -> dict[str, Any]:
    """Cut the longest texts first until all fit 90% of the limit's character budget.

    Every text longer than a common cap is cut to that cap (its start is kept), with the cap as high as
    the budget allows. Short texts, typically the system prompt and the latest question, survive whole,
    and the long pasted document or tool output that caused the overflow takes the cut. Messages and
    their roles all stay. Tool definitions cannot be cut, so they come out of the budget first.
    """
    result = dict(body)
    for key in (*_SYSTEM_KEYS, *_MESSAGE_KEYS):
        if key in result and not isinstance(result[key], str):
            # Only the containers the texts live in are copied; the caller's body stays untouched.
            result[key] = copy.deepcopy(result[key])
    budget = max(0, math.floor(limit / rate * _TRUNCATE_TARGET) - _tool_chars(result))
    slots = _slots(result)
    cap = _water_level([len(slot.text) for slot in slots], budget)
    for slot in slots:
        text = slot.text
        if len(text) > cap:
            slot.holder[slot.key] = text[:cap]
    return result


def _water_level(lengths: list[int], budget: int) -> int:
    """The largest cap ``c`` with ``sum(min(length, c)) <= budget``."""
    ordered = sorted(lengths)
    remaining = budget
    for index, length in enumerate(ordered):
        share = remaining // (len(ordered) - index)
        if length > share:
            return share
        remaining -= length
    return ordered[-1] if ordered else 0


# --- middle-out -----------------------------------------------------------------------------------------


def _middle_out(body: dict[str, Any], limit: int, rate: float) -> dict[str, Any]:
    """Drop messages from the middle of the conversation; truncate what is left if it still does not fit.

    The leading system messages, the first other message (usually the task) and the last message (the
    question being asked) are kept. The others go one at a time starting from the middle, so the start of
    the conversation and its most recent turns survive longest.
    """
    key = _message_key(body)
    if key is None:
        return _truncate(body, limit, rate)
    messages: list[Any] = body[key]
    units = _units(messages)
    unit_chars = [
        sum(len(slot.text) for index in unit for slot in _message_slots(messages[index])) for unit in units
    ]
    droppable = _droppable_units(messages, units)
    total = _prompt_chars(body)
    dropped: set[int] = set()
    while math.ceil(total * rate) > limit and droppable:
        victim = droppable.pop(len(droppable) // 2)
        dropped.add(victim)
        total -= unit_chars[victim]
    result = dict(body)
    result[key] = [
        messages[index] for number, unit in enumerate(units) if number not in dropped for index in unit
    ]
    if math.ceil(total * rate) > limit:
        return _truncate(result, limit, rate)
    return result


def _units(messages: list[Any]) -> list[list[int]]:
    """Message indexes grouped so a tool call and its results are kept or dropped together.

    Providers reject a tool result whose call is missing, so a result joins the unit before it.
    """
    units: list[list[int]] = []
    for index, message in enumerate(messages):
        if units and _is_tool_result(message):
            units[-1].append(index)
        else:
            units.append([index])
    return units


def _is_tool_result(message: Any) -> bool:
    if not isinstance(message, dict):
        return False
    if message.get("role") == "tool" or message.get("type") == "function_call_output":
        return True
    for key in ("content", "parts"):
        parts = message.get(key)
        if isinstance(parts, list) and any(
            isinstance(part, dict) and (part.get("type") == "tool_result" or "functionResponse" in part)
            for part in parts
        ):
            return True
    return False


def _droppable_units(messages: list[Any], units: list[list[int]]) -> list[int]:
    """Unit numbers that middle-out may drop, in conversation order."""
    first = 0
    while first < len(units) and _role(messages[units[first][0]]) in _SYSTEM_ROLES:
        first += 1
    return list(range(first + 1, len(units) - 1))


def _role(message: Any) -> str | None:
    role = message.get("role") if isinstance(message, dict) else None
    return role if isinstance(role, str) else None
