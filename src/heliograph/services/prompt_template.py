"""Helicone's legacy prompt-template syntax: split tagged client traffic, compile stored templates.

Pure logic over JSON values. Arguments are never mutated; results are new containers that may share
untouched sub-objects (an auto input is the very dict seen in traffic), so treat them as immutable.

Syntax (Helicone's is a handful of lazy regexes; these are the precise rules Heliograph commits to):

* Paired input tag, in client traffic: ``<helicone-prompt-input key="k">value</helicone-prompt-input>``.
  The key is quoted with ``"`` or ``'``, is non-empty and cannot contain its own quote character.
  Whitespace is allowed around ``=`` and before ``>``, and required between the tag name and ``key``.
  A malformed opening tag, or one with an empty key, is plain literal text. Tag names are case-sensitive.
* Self-closing placeholder, in stored templates: ``<helicone-prompt-input key="k" />`` (same key rules,
  the space before ``/>`` is optional).
* Static text: ``<helicone-prompt-static>text</helicone-prompt-static>``. It only marks the enclosing
  object as "not an auto input"; tags between the two markers are handled like anywhere else.
* Auto input placeholder: ``<helicone-auto-prompt-input idx=N />`` (N decimal, optionally quoted).

Nesting: tags never nest. A paired tag's value is the text up to the first closing
``</helicone-prompt-input>``; if the text ``<helicone-prompt-input`` (any opening or placeholder, valid
or not) appears before that closing tag, the outer opening tag is not a tag: it stays literal and the
scan moves on, so the innermost tag wins. Static markers pair the same way: an opening marker followed by
another opening marker before a closing one is literal. Because a placeholder starts with the same text
as a paired tag, a template derived from traffic pairs its tags exactly as the traffic did, which is what
makes ``compile_template(parse_traffic(x).template, ...)`` reproduce the body.

One left-to-right pass; substituted text is never re-scanned, so an input value holding tag text is
inserted literally. Only opening tags go through (anchored, backtracking-free) regexes; closing tags are
found with ``str.find`` and a bisected position index, so the cost stays linear in the input size even
for adversarial strings (thousands of unclosed openings, megabyte values). The walks recurse, so JSON
nested deeper than Python's recursion limit (about 900 levels) raises RecursionError.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import orjson

INPUT_TAG = "helicone-prompt-input"
STATIC_TAG = "helicone-prompt-static"
AUTO_INPUT_TAG = "helicone-auto-prompt-input"

_INPUT_OPEN_PREFIX: Final = f"<{INPUT_TAG}"
_INPUT_CLOSE: Final = f"</{INPUT_TAG}>"
_STATIC_OPEN: Final = f"<{STATIC_TAG}>"
_STATIC_CLOSE: Final = f"</{STATIC_TAG}>"
_AUTO_PREFIX: Final = f"<{AUTO_INPUT_TAG}"
# Cheap substring pre-checks: every tag contains the first; traffic's input and static tags the second.
_ANY_TAG_MARK: Final = "helicone-"
_TRAFFIC_TAG_MARK: Final = "<helicone-prompt-"

_CANDIDATE_RE: Final = re.compile(r"</?helicone-")
# Anchored with .match() at a candidate position. Each quantifier is followed by a character it cannot
# consume, so there is no backtracking blow-up; the quoted key stops at the next quote of its own kind.
_INPUT_OPEN_RE: Final = re.compile(r"""<helicone-prompt-input\s+key\s*=\s*(?:"([^"]+)"|'([^']+)')\s*(/?)>""")
_AUTO_RE: Final = re.compile(r"""<helicone-auto-prompt-input\s+idx\s*=\s*(["']?)([0-9]+)\1\s*/>""")
# int() refuses very long digit strings; an index this long is out of range for any real list anyway.
_MAX_INDEX_DIGITS: Final = 18


@dataclass(frozen=True, slots=True)
class ParsedPrompt:
    """Client traffic split into what the LLM sees and the reusable template."""

    body: Any  # what the LLM must see: tags stripped
    template: Any  # the stored template shape
    inputs: dict[str, str]  # key -> value (value trimmed)
    auto_inputs: list[Any]  # untagged objects captured from traffic, in order


@dataclass(frozen=True, slots=True)
class CompiledPrompt:
    """A template filled with inputs; ``missing`` and ``unused`` let callers warn or reject."""

    value: Any
    missing: list[str]  # placeholder keys with no input (sorted)
    unused: list[str]  # given input keys no placeholder uses (sorted)


@dataclass(frozen=True, slots=True)
class _PairedInput:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class _Placeholder:
    key: str
    raw: str


@dataclass(frozen=True, slots=True)
class _AutoPlaceholder:
    index: int  # -1 when too long to be a real index
    raw: str


@dataclass(frozen=True, slots=True)
class _StaticMark:
    opening: bool
    raw: str


_STATIC_OPEN_MARK: Final = _StaticMark(opening=True, raw=_STATIC_OPEN)
_STATIC_CLOSE_MARK: Final = _StaticMark(opening=False, raw=_STATIC_CLOSE)

# A literal run of text, or a recognised tag. Static marks left in a token list are always paired.
_Token: TypeAlias = str | _PairedInput | _Placeholder | _AutoPlaceholder | _StaticMark


def _occurrences(text: str, needle: str) -> list[int]:
    positions: list[int] = []
    pos = text.find(needle)
    while pos >= 0:
        positions.append(pos)
        pos = text.find(needle, pos + len(needle))
    return positions


def _next_at_or_after(positions: list[int], pos: int) -> int:
    i = bisect_left(positions, pos)
    return positions[i] if i < len(positions) else -1


class _TagIndex:
    """Sorted positions of input openings and closings, so each paired-tag lookahead is a bisect: a
    ``str.find`` per candidate would rescan the tail for every unclosed opening tag (quadratic)."""

    __slots__ = ("closes", "opens")

    def __init__(self, text: str) -> None:
        self.opens = _occurrences(text, _INPUT_OPEN_PREFIX)
        self.closes = _occurrences(text, _INPUT_CLOSE)


def _read_input(text: str, start: int, index: _TagIndex) -> tuple[_Token | None, int]:
    match = _INPUT_OPEN_RE.match(text, start)
    if match is None:
        return None, start
    key = match[1] if match[1] is not None else match[2]
    if match[3]:
        return _Placeholder(key, match[0]), match.end()
    value_start = match.end()
    close = _next_at_or_after(index.closes, value_start)
    if close < 0:
        return None, start
    nested = _next_at_or_after(index.opens, value_start)
    if 0 <= nested < close:  # the nesting rule: only the innermost tag counts
        return None, start
    return _PairedInput(key, text[value_start:close]), close + len(_INPUT_CLOSE)


def _read_tag(text: str, start: int, index: _TagIndex) -> tuple[_Token | None, int]:
    """The tag starting at ``start`` and the position after it, or None when the text there is literal."""
    if text.startswith(_INPUT_OPEN_PREFIX, start):
        return _read_input(text, start, index)
    if text.startswith(_AUTO_PREFIX, start):
        match = _AUTO_RE.match(text, start)
        if match is None:
            return None, start
        digits = match[2].lstrip("0") or "0"
        position = int(digits) if len(digits) <= _MAX_INDEX_DIGITS else -1
        return _AutoPlaceholder(position, match[0]), match.end()
    if text.startswith(_STATIC_OPEN, start):
        return _STATIC_OPEN_MARK, start + len(_STATIC_OPEN)
    if text.startswith(_STATIC_CLOSE, start):
        return _STATIC_CLOSE_MARK, start + len(_STATIC_CLOSE)
    return None, start


def _pair_statics(tokens: list[_Token]) -> list[_Token]:
    """Turn static marks that have no partner back into literal text (innermost pair wins)."""
    pending: int | None = None
    for i, token in enumerate(tokens):
        if not isinstance(token, _StaticMark):
            continue
        if token.opening:
            if pending is not None:
                tokens[pending] = _STATIC_OPEN
            pending = i
        elif pending is not None:
            pending = None
        else:
            tokens[i] = _STATIC_CLOSE
    if pending is not None:
        tokens[pending] = _STATIC_OPEN
    return tokens


def _tokenize(text: str) -> list[_Token]:
    """Split ``text`` into literal runs and tags in one left-to-right pass."""
    if _ANY_TAG_MARK not in text:
        return [text]
    index = _TagIndex(text)
    tokens: list[_Token] = []
    literal_from = pos = 0
    while (candidate := _CANDIDATE_RE.search(text, pos)) is not None:
        start = candidate.start()
        token, end = _read_tag(text, start, index)
        if token is None:
            # Not a tag: its "<" is literal, and the scan resumes right after it, so a tag that starts
            # inside a rejected one (for example in its key) is still found.
            pos = start + 1
            continue
        if start > literal_from:
            tokens.append(text[literal_from:start])
        tokens.append(token)
        literal_from = pos = end
    if literal_from < len(text):
        tokens.append(text[literal_from:])
    return _pair_statics(tokens)


def input_placeholder(key: str) -> str:
    """The self-closing placeholder for ``key``; single quotes when the key contains a double quote."""
    if not key:
        raise ValueError("an input key cannot be empty")
    if '"' not in key:
        return f'<{INPUT_TAG} key="{key}" />'
    if "'" not in key:
        return f"<{INPUT_TAG} key='{key}' />"
    raise ValueError(f"an input key cannot contain both quote characters: {key!r}")


def auto_input_placeholder(index: int) -> str:
    """The placeholder standing for ``auto_inputs[index]`` in a template."""
    if index < 0:
        raise ValueError(f"an auto input index cannot be negative: {index}")
    return f"<{AUTO_INPUT_TAG} idx={index} />"


def has_prompt_tags(value: Any) -> bool:
    """True iff a string inside ``value`` holds a paired input tag or a paired static tag.

    Self-closing and auto placeholders do not count: they belong to templates, not to client traffic.
    """
    if isinstance(value, str):  # the substring test spares tokenising almost every string
        tokens = _tokenize(value) if _TRAFFIC_TAG_MARK in value else ()
        return any(isinstance(token, _PairedInput | _StaticMark) for token in tokens)
    if isinstance(value, list | dict):
        # A plain loop rather than any(<generator>): one stack frame per nesting level, not two.
        for item in value.values() if isinstance(value, dict) else value:
            if has_prompt_tags(item):
                return True
    return False


class _TrafficParser:
    """One walk that builds body and template together and reports whether a subtree was tagged.

    Tagged-ness is computed bottom-up so each string is tokenised once; an untagged dict then discards the
    auto inputs its children registered and registers itself instead.
    """

    def __init__(self) -> None:
        self.inputs: dict[str, str] = {}
        self.auto_inputs: list[Any] = []

    def walk(self, value: Any) -> tuple[Any, Any, bool]:
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, list):
            walked = list(map(self.walk, value))
            return [w[0] for w in walked], [w[1] for w in walked], any(w[2] for w in walked)
        if isinstance(value, dict):
            return self._dict(value)
        return value, value, False

    def _dict(self, value: dict[str, Any]) -> tuple[Any, Any, bool]:
        mark = len(self.auto_inputs)
        bodies: dict[str, Any] = {}
        templates: dict[str, Any] = {}
        tagged = False
        for key, item in value.items():  # keys are never parsed
            bodies[key], templates[key], item_tagged = self.walk(item)
            tagged = tagged or item_tagged
        if tagged:
            return bodies, templates, True
        # No tags below, hence no inputs were recorded; only nested auto inputs need undoing.
        del self.auto_inputs[mark:]
        self.auto_inputs.append(value)
        return value, auto_input_placeholder(mark), False

    def _string(self, text: str) -> tuple[str, str, bool]:
        if _TRAFFIC_TAG_MARK not in text:
            return text, text, False
        body: list[str] = []
        template: list[str] = []
        tagged = False
        for token in _tokenize(text):
            if isinstance(token, str):
                body.append(token)
                template.append(token)
            elif isinstance(token, _PairedInput):
                body.append(token.value)  # untrimmed: the LLM sees exactly what the client wrote
                template.append(input_placeholder(token.key))
                self.inputs[token.key] = token.value.strip()
                tagged = True
            elif isinstance(token, _StaticMark):
                template.append(token.raw)
                tagged = True
            else:  # placeholders in traffic are just text
                body.append(token.raw)
                template.append(token.raw)
        return "".join(body), "".join(template), tagged


def parse_traffic(value: Any) -> ParsedPrompt:
    """Split a request's ``messages`` (any JSON value) into the LLM body and a template.

    Paired input tags become their value in the body and a placeholder in the template; static markers
    vanish from the body and stay in the template; a dict with no tag anywhere inside becomes an auto
    input placeholder in the template.
    """
    parser = _TrafficParser()
    body, template, _ = parser.walk(value)
    return ParsedPrompt(body=body, template=template, inputs=parser.inputs, auto_inputs=parser.auto_inputs)


# Returned for an element whose auto input does not exist (or is being stripped), so its container drops it.
_REMOVED: Final = object()


def _map_strings(value: Any, convert: Callable[[str], Any]) -> Any:
    """``value`` rebuilt with each string replaced by ``convert(string)``, dropping ``_REMOVED`` results.

    Plain loops rather than comprehensions keep it to one stack frame per nesting level.
    """
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if (mapped := _map_strings(item, convert)) is not _REMOVED:
                items.append(mapped)
        return items
    if isinstance(value, dict):
        entries: dict[str, Any] = {}
        for key, item in value.items():
            if (mapped := _map_strings(item, convert)) is not _REMOVED:
                entries[key] = mapped
        return entries
    return value


class _Compiler:
    def __init__(self, inputs: Mapping[str, str], auto_inputs: Sequence[Any]) -> None:
        self.inputs = inputs
        self.auto_inputs = auto_inputs
        self.referenced: set[str] = set()
        self.missing: set[str] = set()

    def string(self, text: str) -> Any:
        if _ANY_TAG_MARK not in text:
            return text
        tokens = _tokenize(text)
        # The first auto placeholder decides, and the rest of the string is dropped with it.
        auto = next((token for token in tokens if isinstance(token, _AutoPlaceholder)), None)
        if auto is not None:
            return self.auto_inputs[auto.index] if 0 <= auto.index < len(self.auto_inputs) else _REMOVED
        parts: list[str] = []
        for token in tokens:
            if isinstance(token, str):
                parts.append(token)
            elif isinstance(token, _Placeholder):
                self.referenced.add(token.key)
                if token.key in self.inputs:
                    parts.append(self.inputs[token.key])
                else:
                    self.missing.add(token.key)
            elif isinstance(token, _PairedInput):
                # A paired tag left in a template carries its own default: the inline value.
                self.referenced.add(token.key)
                parts.append(self.inputs.get(token.key, token.value))
            # Static marks compile to nothing: the LLM sees their inner text only.
        return "".join(parts)


def compile_template(
    template: Any, inputs: Mapping[str, str], auto_inputs: Sequence[Any] = ()
) -> CompiledPrompt:
    """Fill ``template`` with ``inputs`` and ``auto_inputs``: the body the LLM would see.

    A string holding an auto placeholder is replaced whole by that auto input, or dropped from its list or
    dict when the index is out of range (``None`` at top level). Other strings get placeholders replaced by
    their input (``""`` and listed in ``missing`` when absent), static markers removed, and paired tags
    replaced by the given input or else their inline value. Strings swallowed by an auto placeholder
    reference no keys.
    """
    compiler = _Compiler(inputs, auto_inputs)
    value = _map_strings(template, compiler.string)
    return CompiledPrompt(
        value=None if value is _REMOVED else value,
        missing=sorted(compiler.missing),
        unused=sorted(set(inputs) - compiler.referenced),
    )


def input_keys(template: Any) -> list[str]:
    """Keys of every placeholder and paired tag in the template's strings, deduplicated, first-seen order."""
    seen: dict[str, None] = {}  # an insertion-ordered set

    def record(text: str) -> str:
        tokens = _tokenize(text) if _TRAFFIC_TAG_MARK in text else ()
        seen.update((token.key, None) for token in tokens if isinstance(token, _Placeholder | _PairedInput))
        return text

    # The walk rebuilds the containers for nothing; templates are small and sharing the walk keeps one
    # definition of the traversal order.
    _map_strings(template, record)
    return list(seen)


def _drop_auto_placeholder(text: str) -> Any:
    if _AUTO_PREFIX in text and any(isinstance(token, _AutoPlaceholder) for token in _tokenize(text)):
        return _REMOVED
    return text


def without_auto_inputs(template: Any) -> Any:
    """``template`` minus every string holding an auto placeholder (``None`` if that is the whole template).

    Auto inputs are per-request context (a system message, an image part), so two templates that differ
    only there are the same prompt; strings lose their element in the list or dict, as when compiling.
    """
    stripped = _map_strings(template, _drop_auto_placeholder)
    return None if stripped is _REMOVED else stripped


def shape_hash(template: Any) -> str:
    """A fingerprint of the template minus its auto inputs: equal for templates that are the same
    prompt (key order aside), so a version can be found by it without comparing whole templates."""
    canonical = orjson.dumps(
        without_auto_inputs(template), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()
