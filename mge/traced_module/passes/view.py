"""A TracedModule graph as seen by the rewrite engine, through its public API only.

:class:`TracedGraphView` is :class:`~mge.graph.rewrite.IRView` over one
:class:`~mge.traced_module.InternalGraph`: ops are exprs, values are nodes; it edits
with ``insert_exprs``/``replace_node``/``compile`` and ``Constant.make``. Predicates
for patterns (:func:`is_module`, :func:`is_function`) and the helpers the passes
share (reading constants and attributes, counting module calls) are here too.

Example:
    >>> rewrite(traced, RuleSet([Rule("bn", Pat(is_module(M.BatchNorm2d)), fn)]))
    ... # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ...core.tracing import call_tracer
from ...graph.rewrite import RuleSet, rewrite_to_fixed_point
from ...tensor import Tensor
from ..expr import Apply, CallFunction, CallMethod, Constant, Expr, GetAttr, get_attr_path
from ..graph import InternalGraph, subgraphs
from ..node import ModuleNode, Node, TensorNode
from ..traced_module import TracedModule


def all_graphs(module: Any) -> Iterator[InternalGraph]:
    """Every graph ``module``'s forward runs: its own and those its exprs call into (each
    once). A traced submodule no expr calls (its calls were inlined by ``flatten``) is
    left out: its graph no longer runs and must not count as a second use."""
    seen: set[int] = set()
    if isinstance(module, TracedModule):
        stack = list(module.argdef_graph_map.values())
    else:
        stack = [g for sub in module.modules() if isinstance(sub, TracedModule)
                 for g in sub.argdef_graph_map.values()]
    while stack:
        graph = stack.pop(0)
        if id(graph) in seen:
            continue
        seen.add(id(graph))
        yield graph
        stack += [g for e in graph._exprs for g in subgraphs(e)]


def module_call(expr: Expr, cls: type | tuple[type, ...]) -> Any:
    """The module a ``CallMethod(__call__)`` expr calls, if it is an instance of ``cls``."""
    if isinstance(expr, CallMethod) and expr.method == "__call__" and expr.inputs and \
            isinstance(expr.inputs[0], ModuleNode):
        owner = expr.inputs[0].owner
        if isinstance(owner, cls):
            return owner
    return None


def is_module(*classes: type) -> Callable[[Expr], bool]:
    """Predicate: a call of a module of one of ``classes``."""
    return lambda expr: module_call(expr, classes) is not None


def is_function(*funcs: Callable) -> Callable[[Expr], bool]:
    """Predicate: a call of one of the functions ``funcs`` (e.g. ``F.batch_norm``)."""
    return lambda expr: isinstance(expr, CallFunction) and any(expr.func is f for f in funcs)


def const_value(node: Any) -> np.ndarray | None:
    """The constant value of a node or literal (Constant exprs, Python numbers), else None."""
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return np.asarray(node, dtype=np.float32)
    if isinstance(node, TensorNode) and isinstance(node.expr, Constant):
        value = node.expr.value
        return value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    return None


def attr_value(node: Any) -> Any:
    """The tensor a node stands for when it is a Constant or a module attribute, else None."""
    if isinstance(node, TensorNode):
        if isinstance(node.expr, Constant):
            return node.expr.value
        if isinstance(node.expr, GetAttr):
            return get_attr_path(node.expr.inputs[0].owner, node.expr.name)
    return None


def call_count(root: Any, module: Any) -> int:
    """How many module-call exprs in ``root``'s graphs call ``module``."""
    return sum(1 for g in all_graphs(root) for e in g.exprs(recursive=False)
               if module_call(e, type(module)) is module)


class TracedGraphView:
    """The rewrite engine's view of one InternalGraph."""

    def __init__(self, graph: InternalGraph) -> None:
        self.graph = graph
        self._exprs: set[int] = set()
        self.refresh()

    def refresh(self) -> None:
        """Re-read which exprs the graph holds (users and outputs are read from it)."""
        self._exprs = {id(e) for e in self.ops()}

    def ops(self) -> list[Expr]:
        return self.graph.exprs(recursive=False).as_list()

    def contains(self, op: Expr) -> bool:
        return id(op) in self._exprs

    def inputs(self, op: Expr) -> Sequence[Node]:
        return op.inputs

    def output(self, op: Expr) -> Node | None:
        return op.outputs[0] if op.outputs else None

    def producer(self, value: Node) -> Expr | None:
        return value.expr if isinstance(value, Node) else None

    def sole_reader(self, value: Node) -> Expr | None:
        if len(value.users) != 1 or value in self.graph.outputs:
            return None
        return value.users[0]

    def constant(self, value: Node) -> np.ndarray | None:
        return const_value(value)

    def lint(self) -> None:
        self.graph.lint()

    def replace(self, old: Node, new: Node) -> bool:
        """Let every user of ``old`` (and the outputs) use ``new``; drop what is dead."""
        self.graph.replace_node({old: new})
        self.graph.compile()
        return True

    # ------------------------------------------------------------ constant folding
    def evaluate(self, op: Expr, constants: list[Any]) -> list[Any] | None:
        if not isinstance(op, (CallFunction, CallMethod, Apply)):
            return None
        if not all(isinstance(n, TensorNode) for n in op.inputs):
            return None
        if isinstance(op, Apply) and op.opdef.random:
            return None  # fresh values on every run
        with call_tracer(None):
            values = list(op.interpret(*[n.expr.value for n in op.inputs]))
        return values if all(isinstance(v, Tensor) for v in values) else None

    def set_constants(self, op: Expr, values: list[Any]) -> None:
        outputs = list(op.outputs)
        with self.graph.insert_exprs(op):
            consts = [Constant.make(v) for v in values]
        self.graph.replace_node(dict(zip(outputs, consts)))
        self.graph.compile()
        for old, new in zip(outputs, consts):
            new.name = old.name


def rewrite(module: Any, rules: RuleSet) -> bool:
    """Run ``rules`` to a fixed point on every graph of ``module``; True if anything
    changed."""
    changed = False
    for graph in list(all_graphs(module)):
        changed |= rewrite_to_fixed_point(TracedGraphView(graph), rules)
    return changed


__all__ = [
    "TracedGraphView", "all_graphs", "attr_value", "call_count", "const_value", "is_function",
    "is_module", "module_call", "rewrite",
]
