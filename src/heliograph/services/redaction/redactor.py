"""One policy, compiled: redacts a text, a JSON body, a tree of values (span attributes, events,
prompt inputs) and whole ingest records.

JSON keeps its structure: only string values change, keys never do (except that the whole value of an
authorization-like key is a credential). A string that is itself JSON (tool-call arguments, the
``gen_ai.*.messages`` attributes) is parsed and redacted value by value, then written back as JSON
text. Nothing is re-encoded unless something was redacted, so a body without personal data is stored
byte for byte as it came.

Custom rules run on the ``regex`` module with a timeout: a pattern that backtracks for too long on
some text does not stall ingestion; that whole string is replaced instead (fail closed).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import orjson
import regex

from heliograph.records import PromptUse, RequestRecord, SpanRecord
from heliograph.services.redaction.detectors import BEARER, SECRET_KEYS, BuiltInScanner, replacement
from heliograph.services.redaction.policy import CustomRule, Policy, compile_custom
from heliograph.storage.stored_json import dumps

#: Seconds one custom-rule pass may take on one string before the string is replaced whole.
CUSTOM_TIMEOUT_SECONDS = 0.25
# JSON inside a JSON string inside ...: parsed this many levels deep, then treated as text.
_MAX_JSON_IN_STRING = 4
_MAX_KEYS_REMEMBERED = 10_000
# Texts of 200 to 16,384 characters are remembered, 64 of them at most (about a million characters).
_MEMO_FROM, _MEMO_UP_TO, _MEMO_ENTRIES = 200, 16_384, 64


# An inline flag group such as (?i): in a joined pattern it would apply to every rule, not just its own.
_INLINE_FLAGS = regex.compile(r"\(\?[aiLmsuxV0-9-]+\)")


def _combinable(pattern: str) -> bool:
    """Whether a rule may share the joined pass: no groups of its own (none is referred to by number
    there) and no inline flags (which would leak onto the other rules)."""
    return compile_custom(pattern).groups == 0 and _INLINE_FLAGS.search(pattern) is None


class _CustomPass:
    """Custom rules in one alternation when they have no groups of their own (so none refers to a
    group by number), else one pass per rule."""

    def __init__(self, rules: tuple[CustomRule, ...]) -> None:
        self.name_of: dict[str, str] = {}
        plain = [rule for rule in rules if _combinable(rule.pattern)]
        self.passes: list[tuple[regex.Pattern[str], str]] = []
        if plain:
            joined = "|".join(f"(?P<r{index}>{rule.pattern})" for index, rule in enumerate(plain))
            try:
                self.passes.append((compile_custom(joined), ""))
                self.name_of = {f"r{index}": rule.name for index, rule in enumerate(plain)}
            except regex.error:  # inline flags in the middle, say: each rule on its own then
                self.passes += [(compile_custom(rule.pattern), rule.name) for rule in plain]
        self.passes += [(compile_custom(rule.pattern), rule.name) for rule in rules if rule not in plain]

    def redact(self, text: str) -> str:
        for pattern, name in self.passes:
            replace = self._replacer(name)
            try:
                text = pattern.sub(replace, text, timeout=CUSTOM_TIMEOUT_SECONDS, concurrent=True)
            except TimeoutError:
                return replacement(name or "custom")
        return text

    def _replacer(self, name: str) -> Callable[[Any], str]:
        def replace(match: Any) -> str:
            if match.end() == match.start():
                return ""  # never insert a replacement between characters
            return replacement(name or self.name_of.get(match.lastgroup or "", "custom"))

        return replace


class Redactor:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._scanner = BuiltInScanner(policy.detectors)
        self._custom = _CustomPass(policy.custom_rules) if policy.custom_rules else None
        self._bearer = BEARER in policy.detectors
        self._secret_keys: dict[Any, bool] = {}
        self._memo: dict[str, str] = {}
        self._shortest = 1 if policy.custom_rules else max(1, self._scanner.min_length)

    # --- texts and values -------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """Plain text redacted (no JSON parsing). Long texts are remembered for a while: an LLM span's
        messages come again in the bodies of the request it becomes."""
        if not _MEMO_FROM <= len(text) <= _MEMO_UP_TO:
            return self._text(text)
        known = self._memo.get(text)
        if known is None:
            known = self._text(text)
            if len(self._memo) >= _MEMO_ENTRIES:
                self._memo.clear()
            self._memo[text] = known
        return known

    def _text(self, text: str) -> str:
        text = self._scanner.redact(text)
        if self._custom is not None:
            text = self._custom.redact(text)
        return text

    def string(self, text: str, depth: int = 0) -> str:
        """A string value: JSON text inside it is redacted value by value, other text as text."""
        # Only a string that starts like JSON is parsed (stripped only then: it copies).
        if depth < _MAX_JSON_IN_STRING and text and (text[0] in "{[" or text[0].isspace()):
            stripped = text.strip()
            looks_like_json = len(stripped) > 1 and (stripped[0], stripped[-1]) in (("{", "}"), ("[", "]"))
            parsed = _loads(stripped) if looks_like_json else _NOT_JSON
            if parsed is not _NOT_JSON:
                redacted = self.tree(parsed, depth + 1)
                return text if redacted is parsed else dumps(redacted)
        return self.text(text)

    def secret_key(self, key: Any) -> bool:
        """Whether ``key``'s value is wholly a credential (an authorization-like key), remembered per
        key: the same attribute and header names come again in every record."""
        known = self._secret_keys.get(key)
        if known is None:
            known = type(key) is str and key.lower().rsplit(".", 1)[-1] in SECRET_KEYS
            if len(self._secret_keys) >= _MAX_KEYS_REMEMBERED:
                self._secret_keys.clear()
            self._secret_keys[key] = known
        return known

    def tree(self, root: Any, depth: int = 0) -> Any:
        """``root`` with every string in it redacted: the same object when nothing changed, else a
        copy (the input is never modified). Iterative: documents may nest a thousand levels."""
        if type(root) is str:
            return self.string(root, depth)
        if not isinstance(root, dict | list | tuple):
            return root
        out: Any = {} if isinstance(root, dict) else []
        stack: list[tuple[Any, Any]] = [(root, out)]
        changed = False
        # Shorter strings cannot hold a finding (nor JSON that holds one): not even looked at.
        shortest, string = self._shortest, self.string
        secrets = self._bearer
        while stack:
            source, target = stack.pop()
            in_object = isinstance(source, dict)
            for key, value in source.items() if in_object else enumerate(source):
                if type(value) is str:
                    if secrets and in_object and value and self.secret_key(key):
                        new = replacement(BEARER)
                    else:
                        new = string(value, depth) if len(value) >= shortest else value
                    if new is not value and new != value:
                        changed, value = True, new
                elif isinstance(value, dict | list | tuple):
                    child: Any = {} if isinstance(value, dict) else []
                    stack.append((value, child))
                    value = child
                if in_object:
                    target[key] = value
                else:
                    target.append(value)
        return out if changed else root

    def body(self, text: str | None) -> str | None:
        """A stored body (JSON text; other text is redacted as text)."""
        if text is None:
            return None
        parsed = _loads(text)
        if parsed is _NOT_JSON:
            return self.text(text)
        redacted = self.tree(parsed)
        return text if redacted is parsed else dumps(redacted)

    # --- records ----------------------------------------------------------------------------------

    def request(self, record: RequestRecord) -> RequestRecord:
        changes: dict[str, Any] = {}
        for name in ("request_body", "response_body"):
            value = getattr(record, name)
            new = self.body(value)
            if new is not value:
                changes[name] = new
        if record.properties:
            properties = self.tree(record.properties)
            if properties is not record.properties:
                changes["properties"] = properties
        for name in ("target_url", "path"):
            value = getattr(record, name)
            if value:
                new = self.text(value)
                if new != value:
                    changes[name] = new
        if record.prompt_use is not None:
            use = self._prompt_use(record.prompt_use)
            if use is not record.prompt_use:
                changes["prompt_use"] = use
        return dataclasses.replace(record, **changes) if changes else record

    def _prompt_use(self, use: PromptUse) -> PromptUse:
        # Inputs are stored as prompt input records; the template becomes a prompt version.
        inputs = self.tree(use.inputs)
        auto_inputs = self.tree(use.auto_inputs)
        template = self.tree(use.template)
        if inputs is use.inputs and auto_inputs is use.auto_inputs and template is use.template:
            return use
        return dataclasses.replace(use, inputs=inputs, auto_inputs=auto_inputs, template=template)

    def span(self, span: SpanRecord) -> SpanRecord:
        changes: dict[str, Any] = {}
        attributes = self.tree(span.attributes)
        if attributes is not span.attributes:
            changes["attributes"] = attributes
        if span.extra:  # events and links, with their attributes
            extra = self.tree(span.extra)
            if extra is not span.extra:
                changes["extra"] = extra
        if span.status_message:
            message = self.text(span.status_message)
            if message != span.status_message:
                changes["status_message"] = message
        return dataclasses.replace(span, **changes) if changes else span


_NOT_JSON = object()


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:  # integers beyond 64 bits, NaN, nesting past orjson's limit
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOT_JSON
