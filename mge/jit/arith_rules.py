"""MegBrain's "inplace" arithmetic rules (``gopt::optimize_elemwise_expr_inplace``), once.

With ``graph_opt_level >= 1`` MegBrain rewrites these elementwise expressions while it
builds a graph; they change values (``y / y`` is 1 where ``y`` is 0, ``log(exp(x))`` is
``x`` where ``exp(x)`` overflows) and the operators of a dumped file:

===========================================  ===========================================
``a - a`` / ``a / a`` / ``a // a``             0 / 1 / 1 (``a`` the same var)
``a + 0``, ``a * 1``                           ``a``
``a * 0``                                      0 (also where ``a`` is inf or NaN)
``log(exp(a))``                                ``a``
``log(exp(a) * b)``, ``log(exp(a) / b)``       ``log(exp(a)) + log(b)``, ``... - log(b)``
``log(1 + x)``                                 ``log1p(x)``
``log(exp(x) + exp(y))``                       ``LOG_SUM_EXP(x, y)``
``exp(x) - 1``                                 ``expm1(x)``
===========================================  ===========================================

``0`` and ``1`` are one-element constants (MegBrain's ``as_immutable_scalar``, through
``Broadcast``/``Reshape``), compared with MegBrain's ``almost_equal``. The rules are
written once over an :class:`ArithView`: :mod:`mge.jit.inplace_arith` applies them to
the values of a traced call, :func:`simplify_graph` to a graph being dumped.

Example:
    >>> simplify_graph(graph)      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..graph.index import GraphIndex
from ..graph.ir import Graph, VarNode
from ..ops.elemwise import Elemwise
from ..ops.shape import Broadcast, GetVarShape
from .megbrain_facts import MAX_SHARED_CONST_ELEMS, VALUE_INFERRED


def almost_equal(x: float, y: float) -> bool:
    """MegBrain's float ``almost_equal`` (1 ULP of float32, or below ``FLT_MIN``)."""
    eps, tiny = float(np.finfo(np.float32).eps), float(np.finfo(np.float32).tiny)
    return abs(x - y) < eps * abs(x + y) or abs(x - y) < tiny


class ArithView(Protocol):
    """What the rules ask of the vars (``V``) and how they build results (``R``)."""

    def same(self, a: Any, b: Any) -> bool:
        """Whether ``a`` and ``b`` are the same var."""

    def made_by(self, v: Any, mode: str) -> tuple[Any, ...] | None:
        """The inputs of the ``Elemwise(mode)`` that made ``v``, or None."""

    def scalar(self, v: Any) -> float | None:
        """The value of a one-element constant ``v`` (MegBrain's immutable scalar)."""

    def value(self, v: Any) -> Any:
        """``v`` itself as a result."""

    def ew(self, mode: str, *xs: Any) -> Any:
        """The result of ``Elemwise(mode)`` on results ``xs``, or None if it cannot."""

    def fill(self, like: Any, unit: int) -> Any:
        """``unit`` in the shape and dtype of ``like``, or None if it cannot."""


def _is(view: ArithView, v: Any, value: float) -> bool:
    k = view.scalar(v)
    return k is not None and almost_equal(k, value)


def _log(view: ArithView, v: Any, top: bool) -> Any:
    """``LOG(v)`` after MegBrain's LOG rules, in their registration order; None at the
    top when no rule fires."""
    for mode in ("MUL", "TRUE_DIV"):
        pair = view.made_by(v, mode)
        if pair and any(view.made_by(x, "EXP") for x in pair):
            v0, v1 = _log(view, pair[0], False), _log(view, pair[1], False)
            if v0 is None or v1 is None:
                return None
            return view.ew("ADD" if mode == "MUL" else "SUB", v0, v1)
    exp_in = view.made_by(v, "EXP")
    if exp_in:
        return view.value(exp_in[0])
    pair = view.made_by(v, "ADD")
    if pair:
        ones = [k for k, x in enumerate(pair) if _is(view, x, 1)]
        if ones:
            return view.ew("LOG1P", view.value(pair[1 - ones[0]]))
        a, b = view.made_by(pair[0], "EXP"), view.made_by(pair[1], "EXP")
        if a and b:
            return view.ew("LOG_SUM_EXP", view.value(a[0]), view.value(b[0]))
    return None if top else view.ew("LOG", view.value(v))


def _unit_or_absorbing(view: ArithView, mode: str, a: Any, b: Any) -> Any:
    """``a + 0``, ``a * 1`` -> the other input; ``a * 0`` -> 0 (the first constant
    input decides, as in MegBrain's ``identical_op`` and ``absorbing_element``)."""
    for k, other in ((a, b), (b, a)):
        if view.scalar(k) is None:
            continue
        if _is(view, k, 0 if mode == "ADD" else 1):
            return view.value(other)
        if mode == "MUL" and _is(view, k, 0):
            return view.fill(other, 0)
        return None
    return None


def simplify(view: ArithView, mode: str, inputs: tuple[Any, ...]) -> Any:
    """The result of ``Elemwise(mode)(*inputs)`` after MegBrain's rules, or None."""
    if len(inputs) == 1:
        return _log(view, inputs[0], True) if mode == "LOG" else None
    if len(inputs) != 2:
        return None
    a, b = inputs
    if mode in ("SUB", "TRUE_DIV", "FLOOR_DIV") and view.same(a, b):
        return view.fill(a, 0 if mode == "SUB" else 1)
    if mode == "SUB":
        exp_in = view.made_by(a, "EXP")
        if exp_in and _is(view, b, 1):
            return view.ew("EXPM1", view.value(exp_in[0]))
    if mode in ("ADD", "MUL"):
        return _unit_or_absorbing(view, mode, a, b)
    return None


class GraphArith:
    """:class:`ArithView` over a :class:`~mge.graph.Graph`'s vars: results are new ops.

    Vars are "the same" as after MegBrain's operator dedup (equal deterministic ops of the
    same inputs, equal small constants). A fill is MegBrain's ``Broadcast`` of a constant
    to the ``GetVarShape`` of the var (so the file follows the input size). Where the
    ``0``/``1`` is itself made by a ``Broadcast``, MegBrain broadcasts the other input to
    a ``GetVarShape``; that rule is left out here (the op stays as written: equal values).
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def same(self, a: VarNode, b: VarNode) -> bool:
        if a is b:
            return True
        if a.is_const and b.is_const:
            va, vb = np.asarray(a.value), np.asarray(b.value)
            return (va.size <= MAX_SHARED_CONST_ELEMS and va.dtype == vb.dtype
                    and va.shape == vb.shape and bool(np.array_equal(va, vb)))
        na, nb = a.owner, b.owner
        if na is None or nb is None or a.is_input or b.is_input or a.is_const or b.is_const:
            return False
        return (isinstance(na.op, VALUE_INFERRED) and na.op == nb.op
                and na.outputs.index(a) == nb.outputs.index(b)
                and len(na.inputs) == len(nb.inputs)
                and all(self.same(x, y) for x, y in zip(na.inputs, nb.inputs, strict=True)))

    def made_by(self, v: VarNode, mode: str) -> tuple[VarNode, ...] | None:
        node = v.owner
        if node is not None and isinstance(node.op, Elemwise) and node.op.mode == mode:
            return tuple(node.inputs)
        return None

    def scalar(self, v: VarNode) -> float | None:
        # only a constant itself: through a Broadcast MegBrain's result is a Broadcast of
        # the other input to a GetVarShape of both (kept as the op here: equal values)
        if v.is_const and v.value is not None and v.value.size == 1:
            return float(np.asarray(v.value, dtype=np.float64).reshape(()))
        return None

    def value(self, v: VarNode) -> VarNode:
        return v

    def ew(self, mode: str, *xs: VarNode) -> VarNode:
        return self.graph.add_op(Elemwise(mode=mode), list(xs))[0]

    def fill(self, like: VarNode, unit: int) -> VarNode:
        value = self.graph.add_const(np.array(unit, dtype=like.dtype))
        (shape,) = self.graph.add_op(GetVarShape(), [like])
        return self.graph.add_op(Broadcast(shape=like.shape), [value, shape])[0]


def simplify_graph(graph: Graph) -> int:
    """Apply the rules to ``graph``'s ``Elemwise`` ops (in place, in graph order) where the
    result keeps the replaced var's shape and dtype; returns how many fired."""
    view = GraphArith(graph)
    index = GraphIndex(graph)  # each replacement then rewires only the var's readers
    fired = 0
    for node in index.ops():
        if not isinstance(node.op, Elemwise) or len(node.outputs) != 1:
            continue
        out = node.outputs[0]
        new = simplify(view, node.op.mode, tuple(node.inputs))
        if new is not None and new is not out and (new.shape, new.dtype) == (out.shape,
                                                                              out.dtype):
            index.replace_var(out, new)
            fired += 1
    return fired


__all__ = ["ArithView", "GraphArith", "almost_equal", "simplify", "simplify_graph"]
