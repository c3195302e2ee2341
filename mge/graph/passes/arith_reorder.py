"""``arith_reorder``: normalize chains of elementwise ops with constants.

* ``x - c`` becomes ``x + (-c)`` and ``x / c`` (float) becomes ``x * (1/c)``;
* ``(x + c1) + c2`` becomes ``x + (c1 + c2)`` and ``(x * c1) * c2`` becomes
  ``x * (c1 * c2)``;
* ``(x + c1) * c2`` becomes ``x * c2 + (c1 * c2)`` (so scales reach convolutions).

Each rewrite needs the inner result to have no other reader and keeps every shape
(a part of MegEngine's ``NormalizeArithChainPass``/``ReorderArithChainPass``).

Example:
    >>> run_passes(graph, ["arith_reorder"])   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ...ops import Elemwise
from ..ir import Graph, OpNode
from . import register_pass
from .util import Users, elemwise_mode, replace_with, rewrite_all, sole_reader, split_const


def _const(graph: Graph, value: np.ndarray, dtype: np.dtype):  # noqa: ANN202
    return graph.add_const(np.asarray(value).astype(dtype))


def _normalize(graph: Graph, node: OpNode) -> bool:
    """``x - c`` -> ``x + (-c)``; float ``x / c`` -> ``x * (1/c)``."""
    mode = elemwise_mode(node)
    x, c = node.inputs if len(node.inputs) == 2 else (None, None)
    if mode not in ("SUB", "TRUE_DIV") or c is None or not c.is_const or x.is_const:
        return False
    out = node.outputs[0]
    if mode == "SUB":
        if out.dtype.kind not in "fi":
            return False
        replace_with(graph, out, Elemwise(mode="ADD"), [x, _const(graph, -c.value, c.dtype)])
    else:
        if out.dtype.kind != "f":
            return False
        inv = 1.0 / c.value.astype(np.float64)
        replace_with(graph, out, Elemwise(mode="MUL"), [x, _const(graph, inv, c.dtype)])
    return True


def _rewrite(graph: Graph, node: OpNode, users: Users) -> bool:
    if _normalize(graph, node):
        return True
    mode = elemwise_mode(node)
    split = split_const(node) if mode in ("ADD", "MUL") else None
    if split is None:
        return False
    x, c2 = split
    inner = x.owner
    inner_mode = elemwise_mode(inner)
    inner_split = split_const(inner) if inner_mode in ("ADD", "MUL") else None
    if inner_split is None or sole_reader(graph, users, x) is not node:
        return False
    y, c1 = inner_split
    out = node.outputs[0]
    wide = np.float64 if out.dtype.kind == "f" else out.dtype
    a, b = c1.astype(wide), c2.astype(wide)
    if inner_mode == mode:
        value = a + b if mode == "ADD" else a * b
        if np.broadcast_shapes(y.shape, value.shape) != out.shape:
            return False
        replace_with(graph, out, Elemwise(mode=mode), [y, _const(graph, value, out.dtype)])
        return True
    if inner_mode == "ADD" and mode == "MUL":
        shift = a * b
        if np.broadcast_shapes(y.shape, b.shape, shift.shape) != out.shape:
            return False
        (scaled,) = graph.add_op(Elemwise(mode="MUL"), [y, _const(graph, b, out.dtype)])
        replace_with(graph, out, Elemwise(mode="ADD"), [scaled, _const(graph, shift, out.dtype)])
        return True
    return False


@register_pass("arith_reorder")
def arith_reorder(graph: Graph) -> bool:
    """Combine constants in add/mul chains and move scales before shifts."""
    return rewrite_all(graph, _rewrite)
