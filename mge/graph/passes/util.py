"""Small matching and rewriting helpers shared by the passes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...core.opdef import OpDef
from ..ir import Graph, OpNode, VarNode

Users = dict[VarNode, list[OpNode]]


def elemwise_mode(node: OpNode) -> str | None:
    """The mode of an ``Elemwise`` node, None for other ops."""
    return node.op.params()["mode"] if node.type == "Elemwise" else None


def sole_reader(graph: Graph, users: Users, var: VarNode) -> OpNode | None:
    """The one op reading ``var`` once, when ``var`` is read nowhere else (nor output)."""
    readers = users.get(var, [])
    if len(readers) != 1 or var in graph.outputs:
        return None
    return readers[0]


def split_const(node: OpNode) -> tuple[VarNode, np.ndarray] | None:
    """For a binary op with one constant input: (the other input, the constant value)."""
    if len(node.inputs) != 2:
        return None
    a, b = node.inputs
    if b.is_const and not a.is_const:
        return a, b.value
    if a.is_const and not b.is_const:
        return b, a.value
    return None


def replace_with(graph: Graph, old: VarNode, op: OpDef, inputs: Sequence[VarNode]) -> VarNode:
    """Compute ``old`` as ``op(inputs)`` instead; the new var takes ``old``'s name."""
    (new,) = graph.add_op(op, inputs, name=old.owner.name)
    graph.replace_var(old, new)
    new.name = old.name
    return new


def rewrite_all(graph: Graph, rewrite: Callable[[Graph, OpNode, Users], bool]) -> bool:
    """Apply ``rewrite(graph, node, users)`` in topological order until nothing changes."""
    changed = False
    progress = True
    while progress:
        progress = False
        users = graph.users()
        for node in graph.ops():
            if rewrite(graph, node, users):
                changed = progress = True
                break
    return changed


__all__ = ["Users", "elemwise_mode", "replace_with", "rewrite_all", "sole_reader", "split_const"]
