"""The layout of trace and session trees: which nodes a page shows, in what nesting, and where each
node's bar sits on the waterfall.

A trace may hold tens of thousands of spans, as a chain (each the child of the one before) or as a
fan (one parent, thousands of children). Peers froze the browser on such traces, building their trees
in O(n²) or rendering every node. Here every function is O(n) and iterative (a 10,000-span chain is
far past Python's recursion limit), and a page shows a bounded part of the tree: a few levels and a
few hundred nodes, breadth first, with a "show more" control wherever children were left out, which
loads them (``expand`` again, below that node) on demand.

The shown part is a flat list of ``Step`` s that a template walks without recursion: ``item`` opens a
node's ``<li>``, ``open``/``close`` wrap its children's ``<ul>``, ``end`` closes the ``<li>``, and
``more`` is the control for the children left out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

ITEM, OPEN, CLOSE, END, MORE = "item", "open", "close", "end", "more"
#: The parent of the roots, where a step or an expansion names a parent.
ROOTS = -1
# The narrowest bar drawn (percent of the axis): a zero-length span is still seen.
_MIN_WIDTH = 0.25


@dataclass(frozen=True, slots=True)
class Forest:
    """Nodes ``0..n-1`` linked by index: ``roots`` and each node's ``children``, each list in the
    order shown (start order); ``starts`` and ``ends`` in any one unit (a missing end is the start)."""

    roots: list[int]
    children: list[list[int]]
    starts: Sequence[float]
    ends: Sequence[float]

    def __len__(self) -> int:
        return len(self.children)

    def siblings(self, parent: int) -> list[int]:
        """The children of ``parent`` (the roots for ``ROOTS``)."""
        return self.roots if parent == ROOTS else self.children[parent]

    def preorder(self) -> Iterator[tuple[int, int]]:
        """``(node, depth)`` of every node reachable from the roots, each followed by its subtree."""
        stack = [(root, 0) for root in reversed(self.roots)]
        while stack:
            node, depth = stack.pop()
            yield node, depth
            stack.extend((child, depth + 1) for child in reversed(self.children[node]))

    def depths(self) -> list[int]:
        found = [0] * len(self)
        for node, depth in self.preorder():
            found[node] = depth
        return found

    def sizes(self) -> list[int]:
        """Each node's subtree size, itself included."""
        return self.totals([1] * len(self))

    def totals(self, weights: Sequence[int]) -> list[int]:
        """Each node's ``weights`` summed over its subtree, itself included (children before their
        parents: a reversed preorder)."""
        total = list(weights)
        for node, _depth in reversed(list(self.preorder())):
            for child in self.children[node]:
                total[node] += total[child]
        return total

    def parents(self) -> list[int]:
        found = [ROOTS] * len(self)
        for node, kids in enumerate(self.children):
            for child in kids:
                found[child] = node
        return found


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of a tree one answer shows: ``levels`` below the point expanded (the page's roots
    count as the first), at most ``budget`` nodes, and at most ``per_parent`` children of any node."""

    levels: int = 4
    budget: int = 200
    per_parent: int = 50


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # ITEM, OPEN, CLOSE, END or MORE
    node: int  # the node (ITEM, END), the parent (OPEN, CLOSE, MORE; ROOTS for the roots)
    depth: int  # ITEM: the node's depth; OPEN, CLOSE, MORE: the depth of the children
    offset: int = 0  # MORE: the position of the first child left out among its siblings
    count: int = 0  # MORE: the children left out
    nodes: int = 0  # MORE: the nodes left out (those children and everything below them)


def expand(
    forest: Forest,
    parent: int = ROOTS,
    *,
    offset: int = 0,
    depth: int = 0,
    limits: Limits = Limits(),
    sizes: Sequence[int] | None = None,
) -> list[Step]:
    """The steps showing the children of ``parent`` (the roots for ``ROOTS``) from position ``offset``
    on, at ``depth``, and what lies below them within ``limits``, chosen breadth first so the upper
    levels show before the deeper ones. ``sizes`` (``Forest.sizes``) lets MORE steps count nodes."""
    siblings = forest.siblings(parent)
    offset = max(0, offset)
    top = siblings[offset : offset + max(1, min(limits.per_parent, limits.budget))]
    shown: dict[int, int] = {}  # node -> how many of its first children are shown
    used = len(top)
    queue = deque((node, 1) for node in top)
    while queue and used < limits.budget:
        node, level = queue.popleft()
        kids = forest.children[node]
        if level >= limits.levels or not kids:
            continue
        taken = min(len(kids), limits.per_parent, limits.budget - used)
        shown[node] = taken
        used += taken
        queue.extend((kid, level + 1) for kid in kids[:taken])
    return _steps(forest, parent, offset, top, depth, shown, sizes)


def _more(parent: int, depth: int, first: int, kids: list[int], sizes: Sequence[int] | None) -> Step:
    left_out = kids[first:]
    nodes = sum(sizes[kid] for kid in left_out) if sizes is not None else len(left_out)
    return Step(MORE, parent, depth, offset=first, count=len(left_out), nodes=nodes)


def _steps(
    forest: Forest,
    parent: int,
    offset: int,
    top: list[int],
    depth: int,
    shown: dict[int, int],
    sizes: Sequence[int] | None,
) -> list[Step]:
    steps: list[Step] = []
    stack: list[tuple[int, Iterator[int]]] = [(parent, iter(top))]
    while stack:
        owner, pending = stack[-1]
        node = next(pending, None)
        if node is None:
            stack.pop()
            if stack:  # the end of a node's shown children
                kids = forest.children[owner]
                child_depth = depth + len(stack)
                if shown.get(owner, 0) < len(kids):
                    steps.append(_more(owner, child_depth, shown.get(owner, 0), kids, sizes))
                steps.append(Step(CLOSE, owner, child_depth))
                steps.append(Step(END, owner, child_depth - 1))
            else:  # the end of the expanded level
                siblings = forest.siblings(parent)
                if offset + len(top) < len(siblings):
                    steps.append(_more(parent, depth, offset + len(top), siblings, sizes))
            continue
        node_depth = depth + len(stack) - 1
        steps.append(Step(ITEM, node, node_depth))
        kids = forest.children[node]
        if not kids:
            steps.append(Step(END, node, node_depth))
            continue
        steps.append(Step(OPEN, node, node_depth + 1))
        stack.append((node, iter(kids[: shown.get(node, 0)])))
    return steps


@dataclass(frozen=True, slots=True)
class Bar:
    x: str  # the bar's start, percent of the axis ("12.500%")
    width: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: str  # percent of the axis
    at: float  # time since the axis' start, in its unit
    anchor: str  # SVG text-anchor: the last label ends at the axis' end


@dataclass(frozen=True, slots=True)
class Scale:
    """A waterfall's time axis, ``start`` to ``end`` in one unit (nanoseconds for traces,
    milliseconds for sessions)."""

    start: float
    end: float

    @classmethod
    def of(cls, forest: Forest) -> Scale:
        if not len(forest):
            return cls(0, 1)
        return cls(min(forest.starts), max(max(forest.ends), max(forest.starts)))

    @property
    def length(self) -> float:
        return self.end - self.start

    def bar(self, start: float, end: float) -> Bar:
        length = self.length
        if length <= 0:
            return Bar("0%", "100%")
        x = min(max((start - self.start) / length * 100, 0.0), 100.0)
        width = max((max(end, start) - start) / length * 100, _MIN_WIDTH)
        x = min(x, 100.0 - width)
        return Bar(f"{x:.3f}%", f"{width:.3f}%")

    def ticks(self, parts: int = 4) -> list[Tick]:
        step = self.length / parts if self.length > 0 else 0.0
        return [
            Tick(
                f"{100 * i / parts:.1f}%", step * i, "start" if i == 0 else "end" if i == parts else "middle"
            )
            for i in range(parts + 1)
        ]


def path_forest(
    paths: Sequence[str | None], starts: Sequence[float], ends: Sequence[float], *, max_segments: int = 20
) -> tuple[Forest, list[str]]:
    """Items (requests) nested by their ``/``-separated path (``/plan/flights`` under ``/plan``):
    nodes ``0..len(paths)-1`` are the items, in their order, and the nodes after them the paths'
    groups, whose full paths the second answer lists (``""`` for the items). Items without a path (or
    with ``/``) are roots. Given items in start order, every children list comes out in start order
    (a group first appears with its earliest item), and each group spans its items' times. Paths
    deeper than ``max_segments`` keep their rest in the last segment."""
    count = len(paths)
    children: list[list[int]] = [[] for _ in range(count)]
    labels = [""] * count
    group_starts, group_ends = list(starts), list(ends)
    groups: dict[str, int] = {}
    roots: list[int] = []
    for item, path in enumerate(paths):
        siblings, prefix = roots, ""
        for segment in _segments(path or "", max_segments):
            prefix = f"{prefix}/{segment}"
            group = groups.get(prefix)
            if group is None:
                group = groups[prefix] = len(children)
                children.append([])
                labels.append(prefix)
                group_starts.append(starts[item])
                group_ends.append(ends[item])
                siblings.append(group)
            siblings = children[group]
        siblings.append(item)
    forest = Forest(roots, children, group_starts, group_ends)
    for node, _depth in reversed(list(forest.preorder())):
        for child in children[node]:
            group_starts[node] = min(group_starts[node], group_starts[child])
            group_ends[node] = max(group_ends[node], group_ends[child])
    return forest, labels


def _segments(path: str, most: int) -> list[str]:
    parts = [part for part in path.split("/") if part]
    if len(parts) > most:
        parts = [*parts[: most - 1], "/".join(parts[most - 1 :])]
    return parts


def duration_text(ms: float | None) -> str:
    """A duration for a waterfall row: microseconds for the short spans traces are full of."""
    if ms is None:
        return "\u2013"
    if ms <= 0:
        return "0"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def tick_labels(scale: Scale, per_ms: float) -> list[tuple[str, str, str]]:
    """``(x, label, anchor)`` of the axis' ticks; ``per_ms`` is the scale's units per millisecond."""
    return [(tick.x, duration_text(tick.at / per_ms), tick.anchor) for tick in scale.ticks()]
