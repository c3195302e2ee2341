"""``arith_reorder``: normalize chains of elementwise ops with constants.

* ``x - c`` becomes ``x + (-c)`` and ``x / c`` (float) becomes ``x * (1/c)``;
* ``(x + c1) + c2`` becomes ``x + (c1 + c2)`` and ``(x * c1) * c2`` becomes
  ``x * (c1 * c2)``;
* ``(x + c1) * c2`` becomes ``x * c2 + (c1 * c2)`` (so scales reach convolutions);
* a chain of adds with constant terms, like ``(a + c1) + (b + c2)``, becomes
  ``(a + b) + (c1 + c2)``: one constant, last (MegEngine's ``ReorderArithChainPass``
  order, which lets a residual become a convolution's full-shape bias).

Each rewrite needs the inner result to have no other reader and keeps every shape
(a part of MegEngine's ``NormalizeArithChainPass``/``ReorderArithChainPass``).

Example:
    >>> run_passes(graph, ["arith_reorder"])   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ...ops import Elemwise
from ..ir import Graph, OpNode, VarNode
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


def _add_terms(graph: Graph, users: Users, var: VarNode, root: OpNode) -> list[VarNode]:
    """The terms of the add chain ending in ``var`` (inner adds read only by the chain)."""
    node = var.owner
    if elemwise_mode(node) != "ADD" or (node is not root and sole_reader(graph, users, var)
                                        is None):
        return [var]
    return [t for v in node.inputs for t in _add_terms(graph, users, v, root)]


def _is_canonical(node: OpNode, nr_terms: int) -> bool:
    """``((t0 + t1) + ...) + c``: left-deep with the one constant last."""
    if not node.inputs[1].is_const:
        return False
    for _ in range(nr_terms - 2):
        node = node.inputs[0].owner
        if elemwise_mode(node) != "ADD" or node.inputs[1].is_const:
            return False
    return not node.inputs[0].is_const


def _add_chain(graph: Graph, node: OpNode, users: Users) -> bool:
    out = node.outputs[0]
    readers = users.get(out, [])
    if elemwise_mode(node) != "ADD" or (len(readers) == 1 and out not in graph.outputs
                                        and elemwise_mode(readers[0]) == "ADD"):
        return False  # not the end of a chain
    terms = _add_terms(graph, users, out, node)
    consts = [t for t in terms if t.is_const]
    others = [t for t in terms if not t.is_const]
    if not consts or not others or (len(consts) == 1 and _is_canonical(node, len(terms))):
        return False
    wide = np.float64 if out.dtype.kind == "f" else out.dtype
    total = sum(c.value.astype(wide) for c in consts)
    acc = others[0]
    for t in others[1:]:
        acc = _ew(graph, "ADD", acc, t)
    acc = _ew(graph, "ADD", acc, _const(graph, total, out.dtype))
    graph.replace_var(out, acc)
    acc.name = out.name
    return True


def _ew(graph: Graph, mode: str, a: VarNode, b: VarNode) -> VarNode:
    return graph.add_op(Elemwise(mode=mode), [a, b])[0]


def _rewrite(graph: Graph, node: OpNode, users: Users) -> bool:
    if _normalize(graph, node) or _add_chain(graph, node, users):
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
