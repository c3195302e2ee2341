"""FuseAddMul: ``(x + c1) + c2 -> x + (c1 + c2)`` and ``(x * c1) * c2 -> x * (c1 * c2)``."""

from __future__ import annotations

from typing import Any

from ...graph.folding import combine_constants
from ...graph.rewrite import Pat, Rule, RuleSet
from ..node import Node
from .arith import apply_const, as_const_binary, is_const_binary
from .registry import register_pass
from .view import TracedGraphView, rewrite


def _fold(view: TracedGraphView, root: Node) -> bool:
    kind, mid, c2 = as_const_binary(root.expr)
    inner = as_const_binary(mid.expr) if mid.expr is not None else None
    if inner is None or inner[0] != kind or view.sole_reader(mid) is not root.expr:
        return False
    _, x, c1 = inner
    with view.graph.insert_exprs(root.expr):
        folded = apply_const(kind, x, combine_constants(kind, c1, c2).astype(c1.dtype))
    return view.replace(root, folded)


RULES = RuleSet([Rule("(x op c1) op c2 -> x op (c1 op c2)", Pat(is_const_binary("add", "mul")),
                      _fold)])


@register_pass("FuseAddMul")
def fuse_add_mul(module: Any) -> bool:
    """Fold chains of constant adds and of constant muls (in place); True if changed."""
    return rewrite(module, RULES)
