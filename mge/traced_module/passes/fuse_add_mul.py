"""FuseAddMul: ``(x + c1) + c2 -> x + (c1 + c2)`` and ``(x * c1) * c2 -> x * (c1 * c2)``."""

from __future__ import annotations

from typing import Any

from ..expr import Expr
from ..graph import InternalGraph
from .arith import apply_const, as_const_binary
from .optimization import register_pass
from .utils import drop_output, rewrite_until_stable, single_user


def _fold(graph: InternalGraph, expr: Expr) -> bool:
    outer = as_const_binary(expr)
    if outer is None:
        return False
    kind, mid, c2 = outer
    inner = as_const_binary(mid.expr) if mid.expr is not None else None
    if inner is None or inner[0] != kind or not single_user(mid, graph):
        return False
    _, x, c1 = inner
    with graph.insert_exprs(expr):
        folded = apply_const(kind, x, c1 + c2 if kind == "add" else c1 * c2)
    drop_output(graph, expr.outputs[0], folded)
    return True


@register_pass("FuseAddMul")
def fuse_add_mul(module: Any) -> bool:
    """Fold chains of constant adds and of constant muls (in place); True if changed."""
    return rewrite_until_stable(module, _fold)
