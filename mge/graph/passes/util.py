"""The static graph as seen by the rewrite engine, and op predicates for its patterns.

:class:`GraphView` is :class:`~mge.graph.rewrite.IRView` over a :class:`~mge.graph.Graph`
(ops are :class:`~mge.graph.OpNode`, values :class:`~mge.graph.VarNode`); it also
evaluates ops on constants for :func:`~mge.graph.rewrite.fold_constants`.

Example:
    >>> rules = RuleSet([Rule("relu", Pat(elemwise("RELU")), fn)])  # doctest: +SKIP
    >>> rewrite_to_fixed_point(GraphView(graph), rules)            # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...backends import get_backend
from ...core.apply import run_op
from ...core.opdef import OpDef
from ...ops import Elemwise
from ..index import GraphIndex
from ..ir import Graph, OpNode, VarNode
from ..rewrite import RuleSet, of_kinds, rewrite_to_fixed_point

#: constant folding leaves outputs larger than this many elements (and than their inputs)
MAX_GROWTH = 1 << 16


def elemwise(*modes: str) -> Callable[[OpNode], bool]:
    """Predicate: an ``Elemwise`` op in one of ``modes``."""
    return of_kinds(lambda node: isinstance(node.op, Elemwise) and node.op.mode in modes,
                    Elemwise)


def is_op(*classes: type) -> Callable[[OpNode], bool]:
    """Predicate: an op of one of the OpDef ``classes``."""
    return of_kinds(lambda node: isinstance(node.op, classes), *classes)


def elemwise_mode(node: OpNode) -> str | None:
    """The mode of an ``Elemwise`` node, None for other ops."""
    return node.op.mode if isinstance(node.op, Elemwise) else None


class GraphView:
    """The rewrite engine's view of ``graph``: its live ops, readers and positions are a
    :class:`~mge.graph.index.GraphIndex` kept up to date by every edit made through the
    view, so a rewrite costs what it touches (edit the graph only through the view)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.index = GraphIndex(graph)

    def refresh(self) -> None:
        """Nothing to do: the index follows every edit made through the view."""

    def ops(self) -> list[OpNode]:
        return self.index.ops()

    def kind(self, op: OpNode) -> type:
        """The class of ``op``'s OpDef (rule sets try only the rules rooted at it)."""
        return type(op.op)

    def contains(self, op: OpNode) -> bool:
        return self.index.is_live(op)

    def inputs(self, op: OpNode) -> Sequence[VarNode]:
        return op.inputs

    def output(self, op: OpNode) -> VarNode | None:
        return op.outputs[0] if op.outputs else None

    def producer(self, value: VarNode) -> OpNode | None:
        return value.owner

    def readers(self, value: VarNode) -> list[OpNode]:
        return self.index.readers(value)

    def sole_reader(self, value: VarNode) -> OpNode | None:
        readers = self.index.readers(value)
        if len(readers) != 1 or self.index.is_output(value):
            return None
        return readers[0]

    def constant(self, value: VarNode) -> np.ndarray | None:
        return value.value if value.is_const else None

    def lint(self) -> None:
        self.graph.lint()

    # ------------------------------------------------------------ editing
    def const(self, value: Any, dtype: np.dtype, name: str | None = None) -> VarNode:
        """A new constant var holding ``value`` as ``dtype``."""
        return self.graph.add_const(np.asarray(value).astype(dtype), name=name)

    def add(self, op: OpDef, inputs: Sequence[VarNode], name: str | None = None) -> VarNode:
        """A new op's (first) output (live once a ``replace`` makes something read it)."""
        return self.graph.add_op(op, inputs, name=name)[0]

    def replace(self, old: VarNode, new: VarNode) -> bool:
        """Let every reader of ``old`` (and the outputs) read ``new``; an unnamed ``new``
        (a var a rule just made) takes ``old``'s name."""
        self.index.replace_var(old, new)
        if new.name is None:
            new.name = old.name
        return True

    def replace_with(self, old: VarNode, op: OpDef, inputs: Sequence[VarNode]) -> bool:
        """Compute ``old`` as ``op(inputs)`` instead (the new op takes the old op's name)."""
        return self.replace(old, self.add(op, inputs, name=old.owner.name))

    # ------------------------------------------------------------ constant folding
    def evaluate(self, op: OpNode, constants: list[np.ndarray]) -> list[np.ndarray] | None:
        if op.op.random:
            return None  # fresh values on every run
        size_in = sum(c.size for c in constants)
        if any(math.prod(v.shape) > max(size_in, MAX_GROWTH) for v in op.outputs):
            return None  # folding would store a much larger constant than it saves
        result = run_op(op.op, *constants, backend=get_backend("numpy"))
        return list(result) if len(op.outputs) > 1 else [result]

    def set_constants(self, op: OpNode, values: list[np.ndarray]) -> None:
        # each output becomes its own constant: equal constants are never merged
        for var, value in zip(op.outputs, values, strict=True):
            const = self.graph.add_const(np.asarray(value).astype(var.dtype).reshape(var.shape),
                                         name=var.name)
            self.index.replace_var(var, const)


def rewrite(graph: Graph, rules: RuleSet) -> bool:
    """Run ``rules`` on ``graph`` to a fixed point; True if anything changed."""
    return rewrite_to_fixed_point(GraphView(graph), rules)


__all__ = ["MAX_GROWTH", "GraphView", "elemwise", "elemwise_mode", "is_op", "rewrite"]
