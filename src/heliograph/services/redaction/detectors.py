"""The built-in detectors: one regular expression per kind of personal data or secret, joined into one
alternation so a string is scanned once, whatever the number of detectors on.

Each pattern is written to keep false positives low (a redacted order number or date is data lost):

* ``email``: ``local@domain.tld``, starting at a word boundary so the scan never backtracks into a word;
* ``phone``: international (``+`` then 8 to 15 digits, in groups or not) and North American
  (``(415) 555-2671``, ``415-555-2671``, ``415.555.2671``) numbers; a bare run of digits, a date
  (``2024-01-15``), a version (``1.2.3``) or a UUID is not a phone number;
* ``payment_card``: 13 to 19 digits, optionally in groups split by spaces or dashes, with a card
  network's prefix (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay) and a valid Luhn check
  digit, so order numbers and epoch-millisecond timestamps stay;
* ``api_key``: provider key formats with a recognisable prefix: OpenAI ``sk-``/``sk-proj-``, Anthropic
  ``sk-ant-``, Stripe ``sk_live_``/``rk_live_``, AWS ``AKIA``/``ASIA``, GitHub ``ghp_``/``github_pat_``,
  Slack ``xox*-``, Google ``AIza``. Generic high-entropy strings are not matched: hashes, ids and
  base64 images would be redacted with them;
* ``bearer``: ``Bearer <token>`` in text (``Bearer``, ``bearer`` or ``BEARER``; the token is replaced,
  the word kept), and, in JSON objects and
  attributes, the whole value of an authorization-like key (see :data:`SECRET_KEYS`).

The replacement is ``[REDACTED:<kind>]``: no quote or backslash, so JSON text stays valid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

EMAIL = "email"
PHONE = "phone"
PAYMENT_CARD = "payment_card"
API_KEY = "api_key"
BEARER = "bearer"
#: Every built-in detector, in the order the API lists them (all are on by default in a policy).
BUILT_IN = (EMAIL, PHONE, PAYMENT_CARD, API_KEY, BEARER)

_EMAIL = (
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
# Not preceded by a word character, a dot, a plus or a dash (no match inside ids, versions or dates),
# not followed by a digit or another group.
_PHONE = (
    r"(?<![\w.+/-])(?:"
    r"\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,4}){2,6}"
    r"|(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}"
    r")(?![\w-]|\.\d)"
)
_CARD = r"(?<![\w.+-])(?:\d[ -]?){12,18}\d(?![\w-]|\.\d)"
_API_KEY = (
    r"(?<![A-Za-z0-9_-])(?:"
    r"sk-[A-Za-z0-9_-]{20,}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,255}"
    r"|github_pat_[A-Za-z0-9_]{22,255}"
    r"|xox[abposer]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r")(?![A-Za-z0-9_-])"
)
_BEARER = r"(?<![A-Za-z])(?:Bearer|bearer|BEARER)[ \t]+[A-Za-z0-9._~+/=-]{8,}"
# Bearer and API keys first: a key inside "Bearer sk-..." is one bearer token, not two findings.
_PATTERNS = {BEARER: _BEARER, API_KEY: _API_KEY, EMAIL: _EMAIL, PAYMENT_CARD: _CARD, PHONE: _PHONE}
#: The shortest text each detector can match: shorter strings are not scanned at all.
MIN_LENGTH = {EMAIL: 6, PHONE: 10, PAYMENT_CARD: 13, API_KEY: 20, BEARER: 15}

#: Keys (of a JSON object, span attribute or property; compared lower-case, after the last dot) whose
#: whole value is a credential: redacted as ``bearer`` when that detector is on.
SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "api_key",
        "apikey",
        "helicone-auth",
        "openai-api-key",
        "x-goog-api-key",
    }
)

# Card networks' prefixes (IIN ranges): Visa; Mastercard, Amex, Diners, JCB, UnionPay, Discover.
_CARD_PREFIX_SET = frozenset(
    [
        "4",
        *(str(n) for n in range(51, 56)),
        *("34", "37", "36", "38", "35", "62", "65", "6011"),
        *(str(n) for n in range(300, 306)),
        *(str(n) for n in range(644, 650)),
        *(str(n) for n in range(2221, 2721)),
    ]
)


def replacement(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_payment_card(text: str) -> bool:
    """A 13-19 digit number with a card network's prefix and a valid Luhn check digit."""
    digits = text.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19:
        return False
    if not any(digits[:size] in _CARD_PREFIX_SET for size in (1, 2, 3, 4)):
        return False
    return luhn_valid(digits)


def _is_phone(text: str) -> bool:
    digits = sum(char.isdigit() for char in text)
    return 8 <= digits <= 15 if text.startswith("+") else digits == 10


def _bearer(text: str) -> str:
    # Keep the scheme word: "Bearer [REDACTED:bearer]" still says what was there.
    cut = 6
    while text[cut] in " \t":
        cut += 1
    return text[:cut] + replacement(BEARER)


# Cheap tests that a detector could match at all, run before any regular expression: most texts (prose,
# ids, model names) have no '@', no run of digits and no key prefix, and are then not scanned (measured:
# a 550-character sentence costs 160 µs through the five expressions, a few µs through these).
_DIGITS = "0123456789"
_DIGIT_RUN = re.compile(r"[0-9](?:[ ().-]{0,2}[0-9]){7}")  # 8 digits: the shortest phone number
_SEPARATED_PREFIXES = ("sk-", "sk_", "rk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox")
_CAPITAL_PREFIXES = ("AKIA", "ASIA", "AIza")


def _has_digit_run(text: str) -> bool:
    for digit in _DIGITS:
        if digit in text:
            return _DIGIT_RUN.search(text) is not None
    return False


def _may_hold_key(text: str) -> bool:
    if "-" in text or "_" in text:
        for prefix in _SEPARATED_PREFIXES:
            if prefix in text:
                return True
    if "A" in text:
        for prefix in _CAPITAL_PREFIXES:
            if prefix in text:
                return True
    return False


def _candidates(text: str, kinds: frozenset[str]) -> tuple[str, ...]:
    """The detectors of ``kinds`` that could match ``text`` (in the alternation's order)."""
    found = []
    if BEARER in kinds and ("earer" in text or "EARER" in text):
        found.append(BEARER)
    if API_KEY in kinds and _may_hold_key(text):
        found.append(API_KEY)
    if EMAIL in kinds and "@" in text:
        found.append(EMAIL)
    if (PAYMENT_CARD in kinds or PHONE in kinds) and _has_digit_run(text):
        found.extend(kind for kind in (PAYMENT_CARD, PHONE) if kind in kinds)
    return tuple(found)


class BuiltInScanner:
    """The detectors of ``kinds``, run as one alternation of those that could match a given text
    (compiled once per combination, at most 32 of them, per policy version)."""

    def __init__(self, kinds: Sequence[str]) -> None:
        chosen = [kind for kind in _PATTERNS if kind in kinds]
        self.kinds = frozenset(chosen)
        self.min_length = min((MIN_LENGTH[kind] for kind in chosen), default=0)
        self._compiled: dict[tuple[str, ...], re.Pattern[str]] = {}

    def _pattern(self, kinds: tuple[str, ...]) -> re.Pattern[str]:
        pattern = self._compiled.get(kinds)
        if pattern is None:
            pattern = re.compile("|".join(f"(?P<{kind}>{_PATTERNS[kind]})" for kind in kinds))
            self._compiled[kinds] = pattern
        return pattern

    @staticmethod
    def _replacement(match: re.Match[str]) -> str:
        kind = match.lastgroup or ""
        text = match.group()
        if kind == PAYMENT_CARD and not is_payment_card(text):
            return text
        if kind == PHONE and not _is_phone(text):
            return text
        if kind == BEARER:
            return _bearer(text)
        return replacement(kind)

    def redact(self, text: str) -> str:
        if not self.kinds or len(text) < self.min_length:
            return text
        kinds = _candidates(text, self.kinds)
        if not kinds:
            return text
        pattern = self._pattern(kinds)
        if API_KEY in kinds or BEARER in kinds or len(text) < _WINDOWED_FROM:
            return pattern.sub(self._replacement, text)
        return self._windowed(pattern, text, kinds)

    def _windowed(self, pattern: re.Pattern[str], text: str, kinds: tuple[str, ...]) -> str:
        """Emails, phone and card numbers in a long text: the expression runs only around each ``@``
        and each run of digits (every match of theirs holds one), not from every position."""
        pieces: list[str] = []
        done = 0
        for start, end in _windows(text, kinds):
            for match in pattern.finditer(text, max(start, done), end):
                replaced = self._replacement(match)
                if replaced is match.group():
                    continue
                pieces += (text[done : match.start()], replaced)
                done = match.end()
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)


# Texts at least this long are scanned in windows (shorter ones whole: windows would not pay).
_WINDOWED_FROM = 200
# What may continue a phone or card number after its first 8 digits (and open one before them).
_NUMBER_TAIL = re.compile(r"[0-9 ().+-]*")
_LOCAL_PART = 64  # the longest local part an email match has (the pattern's bound)
_DOMAIN_PART = 260  # beyond the longest domain worth matching


def _windows(text: str, kinds: tuple[str, ...]) -> list[tuple[int, int]]:
    """Sorted, merged (start, end) ranges holding every possible email, phone or card match. An end is
    one character past the candidate, so the patterns' lookahead sees the real next character."""
    found: list[tuple[int, int]] = []
    size = len(text)
    if EMAIL in kinds:
        at = text.find("@")
        while at >= 0:
            found.append((max(0, at - _LOCAL_PART - 1), min(size, at + _DOMAIN_PART)))
            at = text.find("@", at + 1)
    if PHONE in kinds or PAYMENT_CARD in kinds:
        for run in _DIGIT_RUN.finditer(text):
            tail = _NUMBER_TAIL.match(text, run.end())
            end = tail.end() if tail is not None else run.end()
            # Back to the run's start: a number's "+", "(" or first digits before its 8-digit run.
            found.append((max(0, run.start() - 8), min(size, end + 1)))
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
