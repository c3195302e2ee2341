"""Helpers shared by the TracedModule passes: graphs to visit, constants, new nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...tensor import Tensor
from ..expr import CallFunction, CallMethod, Constant, Expr, GetAttr, get_attr_path
from ..graph import InternalGraph
from ..node import ModuleNode, Node, TensorNode


def all_graphs(module: Any) -> Iterator[InternalGraph]:
    """Every graph of ``module`` and of the traced modules inside it (each once)."""
    from ..traced_module import TracedModule

    seen: set[int] = set()
    for sub in module.modules():
        if isinstance(sub, TracedModule):
            for graph in sub.argdef_graph_map.values():
                if id(graph) not in seen:
                    seen.add(id(graph))
                    yield graph


def rewrite_until_stable(module: Any, rewrite: Callable[[InternalGraph, Expr], bool]) -> bool:
    """Apply ``rewrite(graph, expr)`` to every expr of every graph of ``module``, starting over
    after each change, until none applies; True if anything changed."""
    changed = False
    for graph in list(all_graphs(module)):
        while any(rewrite(graph, e) for e in list(graph._exprs) if e.graph is graph):
            changed = True
    return changed


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
            owner = node.graph._resolve_module(node.expr.inputs[0])
            return get_attr_path(owner, node.expr.name)
    return None


def replace_expr(graph: InternalGraph, old: Expr, new: Expr) -> None:
    """Put ``new`` in ``old``'s place, taking over its outputs."""
    new.graph = graph
    new.outputs, new.out_def, new.out_const = old.outputs, old.out_def, old.out_const
    for out in new.outputs:
        out.expr = new
    for node in old.inputs:
        if old in node.users:
            node.users.remove(old)
    graph._exprs[graph._exprs.index(old)] = new


def single_user(node: Node, graph: InternalGraph) -> bool:
    """True when ``node`` feeds exactly one expr and is not a graph output."""
    return len(node.users) == 1 and node not in graph._outputs


def module_call(expr: Expr, cls: type | tuple[type, ...]) -> Any:
    """The module a ``CallMethod(__call__)`` expr calls, if it is an instance of ``cls``."""
    if isinstance(expr, CallMethod) and expr.method == "__call__" and expr.inputs and \
            isinstance(expr.inputs[0], ModuleNode):
        owner = expr.inputs[0].owner
        if isinstance(owner, cls):
            return owner
    return None


def function_call(expr: Any, *funcs: Any) -> bool:
    return isinstance(expr, CallFunction) and any(expr.func is f for f in funcs)


def new_constant(graph: InternalGraph, value: np.ndarray, before: Expr,
                 name: str = "const_tensor") -> TensorNode:
    """Insert a Constant expr for ``value`` right before ``before``; returns its node."""
    tensor = Tensor(value)
    node = TensorNode(None, name, tensor.shape, tensor.dtype, tensor.device)
    graph._add_node(node, name)
    expr = Constant(tensor, node)
    expr.graph = graph
    graph._exprs.insert(graph._exprs.index(before), expr)
    return node


def drop_output(graph: InternalGraph, old: Node, new: Node) -> None:
    """Route every user of ``old`` (and the outputs) to ``new``, then remove dead exprs."""
    for user in list(old.users):
        user.replace_input(old, new)
    graph._outputs = [new if o is old else o for o in graph._outputs]
    graph.compile()
