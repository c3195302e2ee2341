"""FuseAddMul: ``(x + c1) + c2 -> x + (c1 + c2)`` and ``(x * c1) * c2 -> x * (c1 * c2)``."""

from __future__ import annotations

from typing import Any

from ..graph import InternalGraph
from .arith import apply_const, as_const_binary
from .optimization import register_pass
from .utils import all_graphs, drop_output, single_user


def _fold_once(graph: InternalGraph) -> bool:
    for expr in graph._exprs:
        outer = as_const_binary(expr)
        if outer is None:
            continue
        kind, mid, c2 = outer
        inner = as_const_binary(mid.expr) if mid.expr is not None else None
        if inner is None or inner[0] != kind or not single_user(mid, graph):
            continue
        _, x, c1 = inner
        with graph.insert_exprs(expr):
            folded = apply_const(kind, x, c1 + c2 if kind == "add" else c1 * c2)
        drop_output(graph, expr.outputs[0], folded)
        return True
    return False


@register_pass("FuseAddMul")
def fuse_add_mul(module: Any) -> bool:
    """Fold chains of constant adds and of constant muls (in place); True if changed."""
    changed = False
    for graph in list(all_graphs(module)):
        while _fold_once(graph):
            changed = True
    return changed
