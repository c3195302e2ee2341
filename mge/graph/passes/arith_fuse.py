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
from ..ir import Graph, OpNode
from . import register_pass
from .util import Users, elemwise_mode, replace_with, rewrite_all, sole_reader

FUSE_ADD = {"RELU": "FUSE_ADD_RELU", "SIGMOID": "FUSE_ADD_SIGMOID", "TANH": "FUSE_ADD_TANH",
            "H_SWISH": "FUSE_ADD_H_SWISH"}


def _fma3(graph: Graph, node: OpNode, users: Users) -> bool:
    if elemwise_mode(node) != "ADD" or len(node.inputs) != 2:
        return False
    for k in (0, 1):
        mul, bias = node.inputs[k], node.inputs[1 - k]
        if elemwise_mode(mul.owner) != "MUL" or sole_reader(graph, users, mul) is not node:
            continue
        a, b = mul.owner.inputs
        if int(np.prod(a.shape)) > int(np.prod(b.shape)):
            a, b = b, a
        if bias.shape in (a.shape, b.shape):
            replace_with(graph, node.outputs[0], Elemwise(mode="FUSE_MUL_ADD3"), [a, b, bias])
            return True
    return False


def _add_nonlinear(graph: Graph, node: OpNode, users: Users) -> bool:
    fused = FUSE_ADD.get(elemwise_mode(node) or "")
    if fused is None:
        return False
    (x,) = node.inputs
    if elemwise_mode(x.owner) != "ADD" or sole_reader(graph, users, x) is not node:
        return False
    replace_with(graph, node.outputs[0], Elemwise(mode=fused), list(x.owner.inputs))
    return True


@register_pass("arith_fuse")
def arith_fuse(graph: Graph) -> bool:
    """Form FUSE_MUL_ADD3 and FUSE_ADD_{RELU,SIGMOID,TANH,H_SWISH}."""
    return rewrite_all(graph, lambda g, n, u: _fma3(g, n, u) or _add_nonlinear(g, n, u))
