"""Recognising constant add/mul exprs in their function, method and operator forms."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from ...graph.folding import const_operand
from ...tensor import Tensor
from ..expr import CallFunction, CallMethod, Expr
from ..node import TensorNode
from .view import const_value

_METHODS = {"__add__": "add", "__radd__": "add", "__mul__": "mul", "__rmul__": "mul",
            "__sub__": "sub", "__truediv__": "div"}
_FUNCTIONS = ((F.add, "add"), (F.mul, "mul"), (F.sub, "sub"), (F.div, "div"))


def as_const_binary(expr: Expr) -> tuple[str, TensorNode, np.ndarray] | None:
    """``(kind, x, c)`` when ``expr`` computes ``x + c`` or ``x * c`` for a constant ``c``.

    ``x - c`` counts as ``x + (-c)`` and ``x / c`` as ``x * (1/c)``
    (:func:`mge.graph.folding.const_operand`, as the graph passes normalize them).
    """
    if isinstance(expr, CallMethod) and expr.method in _METHODS:
        kind = _METHODS[expr.method]
        pairs = [(expr.args[0], expr.args[1])]
    elif isinstance(expr, CallFunction) and any(expr.func is f for f, _ in _FUNCTIONS):
        kind = next(k for f, k in _FUNCTIONS if expr.func is f)
        a, b = expr.args[:2] if len(expr.args) >= 2 else (None, None)
        pairs = [(a, b)] if kind in ("sub", "div") else [(a, b), (b, a)]
    else:
        return None
    for x, c in pairs:
        value = const_value(c)
        if isinstance(x, TensorNode) and value is not None and value.dtype.kind == "f":
            norm_kind, norm = const_operand(kind, value)
            return norm_kind, x, norm.astype(np.float32)
    return None


def is_const_binary(*kinds: str) -> Any:
    """Predicate: an expr computing ``x + c`` or ``x * c`` (``kinds``: "add", "mul")."""
    def pred(expr: Expr) -> bool:
        match = as_const_binary(expr)
        return match is not None and match[0] in kinds

    return pred


def apply_const(kind: str, x: Any, value: np.ndarray) -> Any:
    """Record ``x + value`` or ``x * value`` (inside ``insert_exprs``)."""
    const = Tensor(value)
    return F.add(x, const) if kind == "add" else F.mul(x, const)
