"""The prompt page's line diff: markers, line numbers, folding of long unchanged runs, the size cap."""

from __future__ import annotations

from heliograph.web.prompt_diff import MAX_DIFF_LINES, DiffLine, line_diff, pretty


def _kinds(lines: list[DiffLine]) -> list[str]:
    return [line.kind for line in lines]


def test_a_changed_line_is_removed_then_added_with_both_numbers() -> None:
    diff = line_diff("a\nb\nc", "a\nB\nc")
    assert diff is not None
    assert _kinds(diff.lines) == ["same", "removed", "added", "same"]
    removed, added = diff.lines[1], diff.lines[2]
    assert (removed.text, removed.old_number, removed.new_number, removed.marker) == ("b", 2, None, "-")
    assert (added.text, added.old_number, added.new_number, added.marker) == ("B", None, 2, "+")
    assert (diff.added, diff.removed, diff.changed) == (1, 1, True)
    assert diff.lines[3].old_number == diff.lines[3].new_number == 3


def test_insertions_shift_the_new_numbers_only() -> None:
    diff = line_diff("a\nc", "a\nb\nc")
    assert diff is not None
    assert [(line.kind, line.old_number, line.new_number) for line in diff.lines] == [
        ("same", 1, 1),
        ("added", None, 2),
        ("same", 2, 3),
    ]
    assert (diff.added, diff.removed) == (1, 0)


def test_identical_texts_are_shown_whole() -> None:
    text = "\n".join(f"line {n}" for n in range(20))
    diff = line_diff(text, text)
    assert diff is not None
    assert not diff.changed
    assert len(diff.lines) == 20
    assert {line.kind for line in diff.lines} == {"same"}


def test_long_unchanged_runs_fold_around_a_change() -> None:
    old = [f"line {n}" for n in range(100)]
    new = list(old)
    new[50] = "changed"
    diff = line_diff("\n".join(old), "\n".join(new), context=3)
    assert diff is not None
    kinds = _kinds(diff.lines)
    assert kinds == ["skipped"] + ["same"] * 3 + ["removed", "added"] + ["same"] * 3 + ["skipped"]
    assert diff.lines[0].skipped == 47
    assert diff.lines[-1].skipped == 46
    assert diff.lines[0].marker == ""
    # The kept context keeps its real line numbers.
    assert diff.lines[1].old_number == 48


def test_changes_close_together_share_their_context() -> None:
    old = [f"line {n}" for n in range(30)]
    new = list(old)
    new[10], new[14] = "ten", "fourteen"
    diff = line_diff("\n".join(old), "\n".join(new), context=3)
    assert diff is not None
    assert _kinds(diff.lines).count("skipped") == 2  # before the first change, after the last
    assert diff.added == diff.removed == 2


def test_texts_past_the_cap_are_not_compared() -> None:
    big = "\n".join(str(n) for n in range(MAX_DIFF_LINES + 1))
    assert line_diff(big, "x") is None
    assert line_diff("x", big) is None


def test_pretty_keeps_key_order_and_text() -> None:
    assert pretty({"b": 1, "a": "é <x>"}) == '{\n  "b": 1,\n  "a": "é <x>"\n}'
