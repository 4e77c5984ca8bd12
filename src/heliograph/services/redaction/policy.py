"""An organization's redaction policy: whether it is on, which built-in detectors run, and its custom
rules (a name and a regular expression each), validated when saved.

A custom rule's name becomes its replacement's kind (``[REDACTED:<name>]``), so it is limited to
letters, digits, ``_`` and ``-``: no quote or backslash that would break the JSON it lands in. Its
pattern must compile, stay under :data:`MAX_PATTERN_CHARS`, and never match the empty string (a rule
that matches nothing would insert its replacement between every two characters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from heliograph.services.errors import InvalidInput
from heliograph.services.redaction.detectors import BUILT_IN

MAX_RULES = 50
MAX_PATTERN_CHARS = 1000
MAX_NAME_CHARS = 40
_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
# Texts a new pattern is tried on: an empty match in any of them refuses it (``\b``, ``(?=x)``, ``a*``).
_PROBES = ("", "a", "ab 12-34 x@y.z", 'The quick brown fox.\n{"k": [1, 2]}')


@dataclass(frozen=True, slots=True)
class CustomRule:
    name: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Policy:
    enabled: bool = False
    detectors: tuple[str, ...] = BUILT_IN
    custom_rules: tuple[CustomRule, ...] = ()
    version: int = 0
    updated_at: int | None = None

    @property
    def active(self) -> bool:
        """Whether anything is redacted at all (off, or on with nothing chosen, costs nothing)."""
        return self.enabled and bool(self.detectors or self.custom_rules)

    def definition(self) -> dict[str, Any]:
        """The stored JSON form (version and time are columns of their own)."""
        return {
            "detectors": list(self.detectors),
            "custom_rules": [{"name": rule.name, "pattern": rule.pattern} for rule in self.custom_rules],
        }


@dataclass(slots=True)
class PolicyInput:
    """A policy as a caller sends it (API body or settings form), before validation."""

    enabled: bool
    detectors: Sequence[str]
    custom_rules: Sequence[Mapping[str, str]] = field(default_factory=list)


def compile_custom(pattern: str) -> regex.Pattern[str]:
    # VERSION0: the same syntax as Python's ``re``, which the docs promise.
    return regex.compile(pattern, regex.VERSION0)


def _rule(index: int, raw: Mapping[str, str], seen: set[str]) -> CustomRule:
    name = str(raw.get("name", "")).strip()
    pattern = str(raw.get("pattern", ""))
    where = f"customRules[{index}]"
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{where}.name: {name!r} must be 1 to {MAX_NAME_CHARS} letters, digits, '_' or '-'"
        )
    where = f"{where} ({name})"
    if name in seen:
        raise InvalidInput(f"{where}.name: another custom rule has this name")
    seen.add(name)
    if not pattern:
        raise InvalidInput(f"{where}.pattern: must not be empty")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidInput(f"{where}.pattern: longer than {MAX_PATTERN_CHARS} characters")
    try:
        compiled = compile_custom(pattern)
    except RecursionError:
        raise InvalidInput(f"{where}.pattern: nested too deeply") from None
    except (regex.error, re.error, ValueError, OverflowError, TypeError) as exc:
        raise InvalidInput(f"{where}.pattern: not a valid regular expression: {exc}") from None
    for probe in _PROBES:
        try:
            empty = any(match.end() == match.start() for match in compiled.finditer(probe, timeout=0.1))
        except TimeoutError:
            raise InvalidInput(f"{where}.pattern: too slow to run") from None
        if empty:
            raise InvalidInput(f"{where}.pattern: matches the empty string; it must match some text")
    return CustomRule(name=name, pattern=pattern)


def validate(given: PolicyInput) -> Policy:
    """The policy to store, or InvalidInput (a 400) naming the detector or rule at fault."""
    detectors = []
    for index, name in enumerate(given.detectors):
        if name not in BUILT_IN:
            raise InvalidInput(f"detectors[{index}]: {name!r} is not one of {', '.join(BUILT_IN)}")
        if name not in detectors:
            detectors.append(name)
    if len(given.custom_rules) > MAX_RULES:
        raise InvalidInput(f"customRules: at most {MAX_RULES} rules")
    seen: set[str] = set()
    rules = tuple(_rule(index, raw, seen) for index, raw in enumerate(given.custom_rules))
    # Built-in order, whatever order they were sent in: two equal policies look the same.
    ordered = tuple(name for name in BUILT_IN if name in detectors)
    return Policy(enabled=given.enabled, detectors=ordered, custom_rules=rules)


def from_stored(enabled: bool, definition: Mapping[str, Any], version: int, updated_at: int) -> Policy:
    """A stored row as a policy (it was validated when saved; unknown detectors are skipped)."""
    detectors = tuple(name for name in BUILT_IN if name in (definition.get("detectors") or ()))
    rules = tuple(
        CustomRule(name=str(rule["name"]), pattern=str(rule["pattern"]))
        for rule in definition.get("custom_rules") or ()
    )
    return Policy(
        enabled=enabled, detectors=detectors, custom_rules=rules, version=version, updated_at=updated_at
    )
