"""Line diffs between two prompt versions' templates, for the prompt page's compare table.

Both templates are pretty-printed the same way (:func:`pretty`) and compared line by line with
difflib; long unchanged runs fold into one "skipped" row so a one-line change in a long template stays
readable. The rows carry a text marker (+, -) as well as a class: the change is never told by colour
alone.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["added", "removed", "same", "skipped"]
#: Unchanged lines kept around each change.
CONTEXT_LINES = 3
#: Past this many lines on either side the diff is not computed (difflib is quadratic at worst, and a
#: page must answer quickly); the page says so instead.
MAX_DIFF_LINES = 5000
_MARKERS: dict[str, str] = {"added": "+", "removed": "-", "same": "", "skipped": ""}


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: Kind
    text: str
    old_number: int | None = None  # the line's number in the older text (None for an added line)
    new_number: int | None = None  # and in the newer one (None for a removed line)
    skipped: int = 0  # for a "skipped" row: how many unchanged lines it stands for

    @property
    def marker(self) -> str:
        return _MARKERS[self.kind]


@dataclass(frozen=True, slots=True)
class LineDiff:
    lines: list[DiffLine]
    added: int
    removed: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def pretty(template: Any) -> str:
    """A template as people read it and the diff compares it: indented JSON, keys in stored order,
    non-ASCII text as itself."""
    return json.dumps(template, indent=2, ensure_ascii=False)


def line_diff(old: str, new: str, *, context: int = CONTEXT_LINES) -> LineDiff | None:
    """Every line of ``old`` and ``new`` as removed, added or unchanged (unchanged runs longer than
    twice ``context`` folded); None when either text is too long to compare here."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    if max(len(old_lines), len(new_lines)) > MAX_DIFF_LINES:
        return None
    rows: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(
                DiffLine("same", old_lines[i], i + 1, j + 1)
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
            continue
        # A replaced block reads best as all its old lines, then all its new ones (as unified diffs do).
        rows.extend(DiffLine("removed", old_lines[i], i + 1, None) for i in range(i1, i2))
        rows.extend(DiffLine("added", new_lines[j], None, j + 1) for j in range(j1, j2))
    added = sum(1 for row in rows if row.kind == "added")
    removed = sum(1 for row in rows if row.kind == "removed")
    return LineDiff(fold_unchanged(rows, context), added, removed)


def fold_unchanged(rows: list[DiffLine], context: int) -> list[DiffLine]:
    """Keep ``context`` unchanged lines on each side of every change; replace the rest of each
    unchanged run with one "skipped" row."""
    changed = [index for index, row in enumerate(rows) if row.kind != "same"]
    if not changed:
        return rows  # identical texts: show them whole, there is nothing to find
    keep = [False] * len(rows)
    for index in changed:
        for near in range(max(0, index - context), min(len(rows), index + context + 1)):
            keep[near] = True
    folded: list[DiffLine] = []
    run = 0
    for row, kept in zip(rows, keep, strict=True):
        if kept:
            if run:
                folded.append(DiffLine("skipped", "", skipped=run))
                run = 0
            folded.append(row)
        else:
            run += 1
    if run:
        folded.append(DiffLine("skipped", "", skipped=run))
    return folded
