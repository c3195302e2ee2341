"""Recognising constant add/mul exprs in their function, method and operator forms."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from ..expr import CallFunction, CallMethod, Expr
from ..node import TensorNode
from .utils import const_value

_METHODS = {"__add__": ("add", False), "__radd__": ("add", False), "__mul__": ("mul", False),
            "__rmul__": ("mul", False), "__sub__": ("add", True), "__truediv__": ("mul", True)}


def as_const_binary(expr: Expr) -> tuple[str, TensorNode, np.ndarray] | None:
    """``(kind, x, c)`` when ``expr`` computes ``x + c`` or ``x * c`` for a constant ``c``.

    ``x - c`` counts as ``x + (-c)`` and ``x / c`` as ``x * (1/c)``.
    """
    if isinstance(expr, CallMethod) and expr.method in _METHODS:
        kind, invert = _METHODS[expr.method]
        args = expr.args
        pairs = [(args[0], args[1])]
    elif isinstance(expr, CallFunction) and expr.func in (F.add, F.mul, F.sub, F.div):
        kind = "add" if expr.func in (F.add, F.sub) else "mul"
        invert = expr.func in (F.sub, F.div)
        a, b = expr.args[:2] if len(expr.args) >= 2 else (None, None)
        pairs = [(a, b)] if invert else [(a, b), (b, a)]
    else:
        return None
    for x, c in pairs:
        value = const_value(c)
        if isinstance(x, TensorNode) and value is not None and value.dtype.kind == "f":
            if invert:
                value = -value if kind == "add" else 1.0 / value
            return kind, x, value.astype(np.float32)
    return None


def apply_const(kind: str, x: Any, value: np.ndarray) -> Any:
    """Record ``x + value`` or ``x * value`` (inside ``insert_exprs``)."""
    from ...tensor import Tensor

    const = Tensor(value)
    return F.add(x, const) if kind == "add" else F.mul(x, const)
