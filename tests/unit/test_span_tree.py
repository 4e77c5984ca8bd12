"""The waterfall layout (``web/span_tree.py``): O(n) tree measures without recursion, the bounded part
of a tree a page shows and the "show more" steps for the rest, bar geometry, and session paths."""

from __future__ import annotations

from typing import Any

import pytest

from heliograph.web.span_tree import (
    CLOSE,
    END,
    ITEM,
    MORE,
    OPEN,
    ROOTS,
    Forest,
    Limits,
    Scale,
    Step,
    duration_text,
    expand,
    path_forest,
)


def _forest(parents: list[int]) -> Forest:
    """A forest from each node's parent (-1: a root); starts are the node numbers, each 1 long."""
    children: list[list[int]] = [[] for _ in parents]
    roots: list[int] = []
    for node, parent in enumerate(parents):
        (roots if parent < 0 else children[parent]).append(node)
    return Forest(roots, children, list(range(len(parents))), [node + 1 for node in range(len(parents))])


def _chain(count: int) -> Forest:
    return _forest([node - 1 for node in range(count)])


def _fan(children: int) -> Forest:
    return _forest([-1] + [0] * children)


def _nested(steps: list[Step]) -> list[Any]:
    """The steps as the nested lists a template makes of them: (node, [children]) and
    ("more", parent, offset, count); fails on unbalanced steps."""
    top: list[Any] = []
    stack: list[list[Any]] = [top]
    open_items: list[int] = []
    for step in steps:
        if step.kind == ITEM:
            entry: tuple[int, list[Any]] = (step.node, [])
            stack[-1].append(entry)
            open_items.append(step.node)
        elif step.kind == OPEN:
            assert open_items[-1] == step.node
            stack.append(stack[-1][-1][1])
        elif step.kind == CLOSE:
            stack.pop()
        elif step.kind == END:
            assert open_items.pop() == step.node
        else:
            assert step.kind == MORE
            stack[-1].append(("more", step.node, step.offset, step.count))
    assert len(stack) == 1
    assert not open_items
    return top


def _items(steps: list[Step]) -> list[tuple[int, int]]:
    return [(step.node, step.depth) for step in steps if step.kind == ITEM]


def test_measures_of_a_small_tree() -> None:
    forest = _forest([-1, 0, 0, 1, -1])
    assert list(forest.preorder()) == [(0, 0), (1, 1), (3, 2), (2, 1), (4, 0)]
    assert forest.depths() == [0, 1, 1, 2, 0]
    assert forest.sizes() == [4, 2, 1, 1, 1]
    assert forest.parents() == [ROOTS, 0, 0, 1, ROOTS]
    assert forest.totals([0, 0, 5, 1, 2]) == [6, 1, 5, 1, 2]


def test_a_chain_of_ten_thousand_needs_no_recursion() -> None:
    forest = _chain(10_000)
    assert forest.depths()[-1] == 9_999
    assert forest.sizes()[0] == 10_000
    steps = expand(forest, sizes=forest.sizes())
    # The root and three levels, then one control for the other 9,996.
    assert _items(steps) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    more = [step for step in steps if step.kind == MORE]
    assert more == [Step(MORE, 3, 4, offset=0, count=1, nodes=9_996)]
    deeper = expand(forest, 3, depth=4, sizes=forest.sizes())
    assert _items(deeper) == [(4, 4), (5, 5), (6, 6), (7, 7)]
    assert _nested(deeper) == [(4, [(5, [(6, [(7, [("more", 7, 0, 1)])])])])]


def test_a_wide_fan_shows_its_first_children_and_pages_the_rest() -> None:
    forest = _fan(10_000)
    limits = Limits(levels=4, budget=200, per_parent=100)
    steps = expand(forest, limits=limits, sizes=forest.sizes())
    [(root, children)] = _nested(steps)
    assert root == 0
    assert len(children) == 101
    assert children[-1] == ("more", 0, 100, 9_900)
    page = expand(forest, 0, offset=100, depth=1, limits=limits)
    nested = _nested(page)
    assert [node for node, *_ in nested[:-1]] == list(range(101, 201))
    assert nested[-1] == ("more", 0, 200, 9_800)
    last = expand(forest, 0, offset=9_950, depth=1, limits=limits)
    assert len(_nested(last)) == 50  # the last 50 children, and no control after them


def test_the_budget_fills_levels_breadth_first() -> None:
    # A root with three children, each with 100 children.
    parents = [-1, 0, 0, 0] + [1] * 100 + [2] * 100 + [3] * 100
    forest = _forest(parents)
    steps = expand(forest, limits=Limits(levels=4, budget=50, per_parent=100), sizes=forest.sizes())
    assert len(_items(steps)) == 50
    [(_, level_one)] = _nested(steps)
    (first, below_first), (second, below_second), (third, below_third) = level_one
    assert (first, second, third) == (1, 2, 3)
    assert len(below_first) == 46 + 1
    assert below_first[-1] == ("more", 1, 46, 54)
    assert below_second == [("more", 2, 0, 100)]
    assert below_third == [("more", 3, 0, 100)]


def test_roots_past_the_limit_get_a_control_at_the_top() -> None:
    forest = _forest([-1] * 30)
    steps = expand(forest, limits=Limits(levels=1, budget=10, per_parent=10))
    nested = _nested(steps)
    assert [node for node, *_ in nested[:-1]] == list(range(10))
    assert nested[-1] == ("more", ROOTS, 10, 20)
    assert expand(forest, offset=30) == []


def test_bars_and_ticks() -> None:
    scale = Scale(1_000, 2_000)
    assert scale.bar(1_250, 1_500).x == "25.000%"
    assert scale.bar(1_250, 1_500).width == "25.000%"
    # A zero-length span is still drawn, and a bar never runs past the axis' end.
    assert scale.bar(2_000, 2_000) == scale.bar(2_000, 1_000)
    assert float(scale.bar(2_000, 2_000).x[:-1]) + float(scale.bar(2_000, 2_000).width[:-1]) <= 100
    assert Scale(5, 5).bar(5, 5).width == "100%"
    ticks = scale.ticks()
    assert [(tick.x, tick.at, tick.anchor) for tick in ticks] == [
        ("0.0%", 0.0, "start"),
        ("25.0%", 250.0, "middle"),
        ("50.0%", 500.0, "middle"),
        ("75.0%", 750.0, "middle"),
        ("100.0%", 1000.0, "end"),
    ]
    assert Scale.of(_forest([-1, 0])) == Scale(0, 2)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "\u2013"),
        (0, "0"),
        (0.0405, "40 µs"),
        (2.5, "2.50 ms"),
        (12.4, "12 ms"),
        (1500, "1.50 s"),
        (90_000, "1.5 min"),
    ],
)
def test_duration_text(ms: float | None, text: str) -> None:
    assert duration_text(ms) == text


def test_paths_nest_under_their_prefixes() -> None:
    paths = ["/plan", "/plan/flights", None, "/plan/hotels/", "/", "/other/deep/er"]
    starts = [10, 20, 5, 30, 40, 50]
    ends = [15, 60, 6, 35, 41, 55]
    forest, labels = path_forest(paths, starts, ends)
    assert labels[:6] == [""] * 6
    group = {label: index for index, label in enumerate(labels) if label}
    assert set(group) == {"/plan", "/plan/flights", "/plan/hotels", "/other", "/other/deep", "/other/deep/er"}
    # Children in start order: a group comes where its earliest request does.
    assert forest.roots == [group["/plan"], 2, 4, group["/other"]]
    assert forest.children[group["/plan"]] == [0, group["/plan/flights"], group["/plan/hotels"]]
    assert forest.children[group["/plan/flights"]] == [1]
    # A group spans its requests' times.
    assert (forest.starts[group["/plan"]], forest.ends[group["/plan"]]) == (10, 60)
    assert (forest.starts[group["/other"]], forest.ends[group["/other"]]) == (50, 55)
    requests = forest.totals([1 if index < len(paths) else 0 for index in range(len(forest))])
    assert requests[group["/plan"]] == 3


def test_deep_paths_keep_their_rest_in_the_last_segment() -> None:
    path = "/" + "/".join(f"s{index}" for index in range(30))
    forest, labels = path_forest([path], [0], [1], max_segments=5)
    assert [label for label in labels if label][-1] == "/s0/s1/s2/s3/" + "/".join(
        f"s{i}" for i in range(4, 30)
    )
    assert forest.depths()[0] == 5


def test_ten_thousand_requests_under_one_path_in_linear_time() -> None:
    count = 10_000
    forest, _labels = path_forest(["/a/b"] * count, list(range(count)), list(range(1, count + 1)))
    assert len(forest) == count + 2
    steps = expand(forest, limits=Limits(levels=32, budget=300, per_parent=100), sizes=forest.sizes())
    assert len(_items(steps)) == 102
    assert next(step for step in steps if step.kind == MORE).count == count - 100
