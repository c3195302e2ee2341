"""``arith_fuse``: fuse elementwise chains into MegEngine's fused modes.

* ``a * b + c`` becomes ``FUSE_MUL_ADD3(a, b, c)`` when ``c`` has the shape of ``a``
  or ``b`` (the smaller factor goes first, as MegEngine orders it);
* ``RELU``/``SIGMOID``/``TANH``/``H_SWISH`` of ``a + b`` become ``FUSE_ADD_*(a, b)``.

The intermediate result must have no other reader (MegEngine's ``ArithFusePass``).

Example:
    >>> run_passes(graph, ["arith_fuse"])   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ...ops import Elemwise
from ..ir import Graph, VarNode
from ..rewrite import Pat, Rule, RuleSet, both_orders
from .registry import register_pass
from .util import GraphView, elemwise, elemwise_mode, rewrite

FUSE_ADD = {"RELU": "FUSE_ADD_RELU", "SIGMOID": "FUSE_ADD_SIGMOID", "TANH": "FUSE_ADD_TANH",
            "H_SWISH": "FUSE_ADD_H_SWISH"}


def _fma3(view: GraphView, root: VarNode, a: VarNode, b: VarNode, bias: VarNode) -> bool:
    if int(np.prod(a.shape)) > int(np.prod(b.shape)):
        a, b = b, a
    if bias.shape not in (a.shape, b.shape):
        return False
    return view.replace_with(root, Elemwise(mode="FUSE_MUL_ADD3"), [a, b, bias])


def _add_nonlinear(view: GraphView, root: VarNode, total: VarNode) -> bool:
    fused = FUSE_ADD[elemwise_mode(root.owner)]
    return view.replace_with(root, Elemwise(mode=fused), list(total.owner.inputs))


RULES = RuleSet([
    *both_orders("a * b + c -> FUSE_MUL_ADD3", Pat(elemwise("ADD"), inputs=(
        Pat(elemwise("MUL"), inputs=(Pat.var("a"), Pat.var("b")), sole=True),
        Pat.var("bias"))), _fma3),
    Rule("f(a + b) -> FUSE_ADD_f", Pat(elemwise(*FUSE_ADD), inputs=(
        Pat(elemwise("ADD"), name="total", sole=True),)), _add_nonlinear),
])


@register_pass("arith_fuse")
def arith_fuse(graph: Graph) -> bool:
    """Form FUSE_MUL_ADD3 and FUSE_ADD_{RELU,SIGMOID,TANH,H_SWISH}."""
    return rewrite(graph, RULES)
