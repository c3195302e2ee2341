"""An incrementally kept index of a graph's live ops, for passes that edit a lot.

A :class:`GraphIndex` knows which ops of a :class:`~mge.graph.Graph` are live (the
outputs depend on them), each var's live readers (once per use) and a topological
position for every live op. Its :meth:`GraphIndex.replace_var` has the meaning of
:meth:`Graph.replace_var <mge.graph.Graph.replace_var>` but costs what the edit
touches, not a walk over the whole graph: it rewires the readers of the replaced var,
brings newly read ops to life and drops the ops nothing reads any more, keeping the
readers and positions right as it goes.

Positions make the one question a replacement must answer cheap: which readers of
``old`` does ``new`` itself depend on (those keep reading ``old``)? The search goes back
from ``new`` and stops at live ops placed before every reader of ``old``. A newly live
op gets a position between its inputs' and its readers' (the new ops of one edit spread
evenly over that gap); when none fits (``new`` computed from ops placed after a reader,
or a gap split below float precision) the positions are renumbered from one walk over
the graph, a case the passes' rules make rarely if ever.

The index sees only edits made through it: ops added with ``graph.add_op`` start
outside (not live) until a ``replace_var`` makes something read them.

Example:
    >>> from mge.ops import Elemwise
    >>> g = Graph()
    >>> x = g.add_input("x", (3,), "float32")
    >>> (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    >>> g.outputs = [y]
    >>> index = GraphIndex(g)
    >>> (z,) = g.add_op(Elemwise(mode="NEGATE"), [x])
    >>> index.replace_var(y, z)
    >>> [n.op.mode for n in index.readers(x)], index.is_live(y.owner)
    (['NEGATE'], False)
"""

from __future__ import annotations

from collections.abc import Iterable

from .ir import Graph, GraphError, OpNode, VarNode

Position = int | float


class GraphIndex:
    """Live ops, readers and topological positions of ``graph``, kept up to date by
    :meth:`replace_var`.

    ``visits`` counts the ops an edit looked at (searched, rewired, brought to life or
    dropped) and ``walks`` the whole-graph walks (building, :meth:`ops` after edits,
    renumbering): instrumentation for tests of the cost of an edit.
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.visits = 0
        self.walks = 0
        self._pos: dict[OpNode, Position] = {}
        self._order: list[OpNode] | None = None
        self._readers: dict[VarNode, list[OpNode]] = {}
        for node in self._walk():
            for v in node.inputs:
                self._readers.setdefault(v, []).append(node)
        self._outputs = set(graph.outputs)

    # ---------------------------------------------------------------- reading

    def _walk(self) -> list[OpNode]:
        """``graph.ops()``, numbering the positions after it."""
        self.walks += 1
        order = self.graph.ops()
        self._pos = {node: k for k, node in enumerate(order)}
        self._order = order
        return order

    def ops(self) -> list[OpNode]:
        """The live ops in ``graph.ops()`` order (a new list; one walk after edits)."""
        return list(self._walk() if self._order is None else self._order)

    def is_live(self, node: OpNode) -> bool:
        """Whether the outputs depend on ``node``."""
        return node in self._pos

    def readers(self, var: VarNode) -> list[OpNode]:
        """The live ops reading ``var``, once per use (do not change the list)."""
        return self._readers.get(var, [])

    def is_output(self, var: VarNode) -> bool:
        return var in self._outputs

    def position(self, node: OpNode) -> Position:
        """``node``'s topological position: below its live readers', above its inputs'."""
        return self._pos[node]

    # ---------------------------------------------------------------- editing
    def replace_var(self, old: VarNode, new: VarNode) -> None:
        """:meth:`Graph.replace_var <mge.graph.Graph.replace_var>`, costing what it touches.

        Every live reader of ``old`` (and the graph outputs) reads ``new`` instead, except
        the readers ``new`` depends on; ``new`` gets ``old``'s name when ``old`` was a named
        output and ``new`` is unnamed.
        """
        if old is new:
            return
        if (old.shape, old.dtype) != (new.shape, new.dtype):
            raise GraphError(f"cannot replace {old!r} by {new!r}: shape or dtype differs")
        readers = self._readers.get(old, [])
        keep = self._depended_on(readers, new)
        moved = [r for r in dict.fromkeys(readers) if r not in keep]
        uses = []
        for node in moved:
            self.visits += 1
            uses += [node] * sum(v is old for v in node.inputs)
            node.inputs = [new if v is old else v for v in node.inputs]
        if moved:
            self._set_readers(old, [r for r in readers if r in keep])
            self._readers.setdefault(new, []).extend(uses)
        is_output = old in self._outputs
        if is_output:
            self.graph.outputs = [new if v is old else v for v in self.graph.outputs]
            self._outputs = set(self.graph.outputs)
            if old.name and not new.name:
                new.name = old.name
        if moved or is_output:
            self._order = None
            bound = min((self._pos[r] for r in moved), default=None)
            misplaced = self._bring_to_life(new.owner, bound)
            self._drop_if_dead(old.owner)
            if misplaced:  # ``new`` comes from ops placed after a reader: renumber
                self._walk()

    def _depended_on(self, readers: Iterable[OpNode], new: VarNode) -> set[OpNode]:
        """The ``readers`` (live ops) that ``new`` depends on: a search back from ``new``
        stopping at live ops placed no later than the first reader (nothing before it
        depends on a reader)."""
        targets = set(readers)
        if not targets:
            return set()
        first = min(self._pos[r] for r in targets)
        found: set[OpNode] = set()
        seen = {new.owner}
        stack = [new.owner]
        while stack:
            node = stack.pop()
            self.visits += 1
            if node in targets:
                found.add(node)
            pos = self._pos.get(node)
            if pos is not None and pos <= first:
                continue
            for v in node.inputs:
                if v.owner not in seen:
                    seen.add(v.owner)
                    stack.append(v.owner)
        return found

    def _bring_to_life(self, root: OpNode, bound: Position | None) -> bool:
        """Make ``root`` and the ops it depends on live, placing the new ones after their
        inputs and before ``bound`` (the first op now reading ``root``); True when there
        is no room (an input placed at or after ``bound``: the caller renumbers)."""
        born = self._not_live_before(root)
        for node in born:
            self.visits += 1
            for v in node.inputs:
                self._readers.setdefault(v, []).append(node)
        if not born:
            return bound is not None and self._pos[root] >= bound
        fresh = set(born)
        low = max((self._pos[v.owner] for node in born for v in node.inputs
                   if v.owner not in fresh), default=None)
        if bound is None:  # read by the outputs only: after its inputs
            start = 0.0 if low is None else low
            self._pos.update((node, start + k) for k, node in enumerate(born, 1))
            return False
        low = bound - 1 if low is None else low
        step = (bound - low) / (len(born) + 1)  # spread over the gap, in order
        placed = [low + step * k for k in range(1, len(born) + 1)]
        self._pos.update(zip(born, placed))
        # no room: an input placed after a reader, or a gap split below float precision
        return not low < placed[0] or placed[-1] >= bound or \
            any(a >= b for a, b in zip(placed, placed[1:], strict=False))

    def _not_live_before(self, root: OpNode) -> list[OpNode]:
        """``root`` and the ops it depends on that are not live, inputs first."""
        if root in self._pos:
            return []
        order: list[OpNode] = []
        stack = [(root, iter(root.inputs))]
        waiting = {root}
        while stack:
            node, pending = stack[-1]
            for v in pending:
                dep = v.owner
                if dep not in self._pos and dep not in waiting:
                    waiting.add(dep)
                    stack.append((dep, iter(dep.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
        return order

    def _drop_if_dead(self, start: OpNode) -> None:
        """Drop ``start`` and then its inputs' owners while nothing live reads them."""
        stack = [start]
        while stack:
            node = stack.pop()
            self.visits += 1
            if node not in self._pos or any(
                    self._readers.get(v) or v in self._outputs for v in node.outputs):
                continue
            del self._pos[node]
            for v in dict.fromkeys(node.inputs):
                self._set_readers(v, [r for r in self._readers.get(v, []) if r is not node])
                stack.append(v.owner)

    def _set_readers(self, var: VarNode, readers: list[OpNode]) -> None:
        if readers:
            self._readers[var] = readers
        else:
            self._readers.pop(var, None)

    # ---------------------------------------------------------------- checking
    def check(self) -> None:
        """Raise ``GraphError`` unless the index agrees with a fresh walk of the graph
        (live set, readers per use, positions in topological order)."""
        order = self.graph.ops()
        if set(order) != set(self._pos):
            raise GraphError("index: live ops differ from graph.ops()")
        fresh: dict[VarNode, list[OpNode]] = {}
        for node in order:
            for v in node.inputs:
                fresh.setdefault(v, []).append(node)
                if self._pos[v.owner] >= self._pos[node]:
                    raise GraphError(f"index: {v.owner!r} is not placed before {node!r}")
        if {v: sorted(r, key=id) for v, r in fresh.items()} != \
                {v: sorted(r, key=id) for v, r in self._readers.items()}:
            raise GraphError("index: readers differ from the graph's")
        if self._outputs != set(self.graph.outputs):
            raise GraphError("index: outputs differ from the graph's")


__all__ = ["GraphIndex"]
