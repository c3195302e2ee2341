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
from ..folding import combine_constants, const_operand
from ..ir import Graph, OpNode, VarNode
from ..rewrite import Pat, Rule, RuleSet, both_orders
from .registry import register_pass
from .util import GraphView, elemwise, elemwise_mode, rewrite

_KIND = {"ADD": "add", "MUL": "mul", "SUB": "sub", "TRUE_DIV": "div"}


def _normalize(view: GraphView, root: VarNode, x: VarNode, c: VarNode) -> bool:
    """``x - c`` -> ``x + (-c)``; float ``x / c`` -> ``x * (1/c)``."""
    mode = elemwise_mode(root.owner)
    if root.dtype.kind not in ("fi" if mode == "SUB" else "f"):
        return False
    kind, value = const_operand(_KIND[mode], c.value)
    new_mode = "ADD" if kind == "add" else "MUL"
    return view.replace_with(root, Elemwise(mode=new_mode), [x, view.const(value, c.dtype)])


def _add_terms(view: GraphView, var: VarNode, root: OpNode) -> list[VarNode]:
    """The terms of the add chain ending in ``var`` (inner adds read only by the chain)."""
    node = var.owner
    if elemwise_mode(node) != "ADD" or (node is not root and view.sole_reader(var) is None):
        return [var]
    return [t for v in node.inputs for t in _add_terms(view, v, root)]


def _is_canonical(node: OpNode, nr_terms: int) -> bool:
    """``((t0 + t1) + ...) + c``: left-deep with the one constant last."""
    if not node.inputs[1].is_const:
        return False
    for _ in range(nr_terms - 2):
        node = node.inputs[0].owner
        if elemwise_mode(node) != "ADD" or node.inputs[1].is_const:
            return False
    return not node.inputs[0].is_const


def _add_chain(view: GraphView, root: VarNode) -> bool:
    node = root.owner
    readers = view.readers(root)
    if len(readers) == 1 and root not in view.graph.outputs \
            and elemwise_mode(readers[0]) == "ADD":
        return False  # not the end of a chain
    terms = _add_terms(view, root, node)
    consts = [t for t in terms if t.is_const]
    others = [t for t in terms if not t.is_const]
    if not consts or not others or (len(consts) == 1 and _is_canonical(node, len(terms))):
        return False
    wide = np.float64 if root.dtype.kind == "f" else root.dtype
    total = sum(c.value.astype(wide) for c in consts)
    acc = others[0]
    for t in others[1:]:
        acc = view.add(Elemwise(mode="ADD"), [acc, t])
    return view.replace(root, view.add(Elemwise(mode="ADD"), [acc, view.const(total, root.dtype)]))


def _combine(view: GraphView, root: VarNode, inner: VarNode, y: VarNode, c1: VarNode,
             c2: VarNode) -> bool:
    """``(y + c1) + c2``, ``(y * c1) * c2`` and ``(y + c1) * c2`` with one constant each."""
    mode, inner_mode = elemwise_mode(root.owner), elemwise_mode(inner.owner)
    wide = np.float64 if root.dtype.kind == "f" else root.dtype
    a, b = c1.value.astype(wide), c2.value.astype(wide)
    if inner_mode == mode:
        value = combine_constants(_KIND[mode], a, b)
        if np.broadcast_shapes(y.shape, value.shape) != root.shape:
            return False
        return view.replace_with(root, Elemwise(mode=mode), [y, view.const(value, root.dtype)])
    if inner_mode == "ADD" and mode == "MUL":
        shift = a * b
        if np.broadcast_shapes(y.shape, b.shape, shift.shape) != root.shape:
            return False
        scaled = view.add(Elemwise(mode="MUL"), [y, view.const(b, root.dtype)])
        return view.replace_with(root, Elemwise(mode="ADD"),
                                 [scaled, view.const(shift, root.dtype)])
    return False


def _combine_rules() -> list[Rule]:
    """``inner op c2`` (either order) where ``inner = y op c1`` (either order)."""
    inner = Pat(elemwise("ADD", "MUL"), inputs=(Pat.var("y", const=False), Pat.cvar("c1")),
                name="inner", sole=True)
    return [rule for pat in (inner, inner.commuted())
            for rule in both_orders("combine constants", Pat(
                elemwise("ADD", "MUL"), inputs=(pat, Pat.cvar("c2"))), _combine)]


RULES = RuleSet([
    Rule("x - c, x / c -> x + c', x * c'", Pat(elemwise("SUB", "TRUE_DIV"), inputs=(
        Pat.var("x", const=False), Pat.cvar("c"))), _normalize),
    Rule("add chain: constants last", Pat(elemwise("ADD")), _add_chain),
    *_combine_rules(),
])


@register_pass("arith_reorder")
def arith_reorder(graph: Graph) -> bool:
    """Combine constants in add/mul chains and move scales before shifts."""
    return rewrite(graph, RULES)
