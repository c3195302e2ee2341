"""Where a constant scale at the end of a graph can travel back to (BackwardFoldScale's
analysis, as MegEngine's pass does it).

Walking a graph's exprs from the last to the first, every expr gets the scalar factor its
output may be multiplied by without changing the graph's results, provided the factor is
taken out again further down: a scalar multiply starts (or grows) a factor, ops that
commute with a scalar pass it on (adds, reshapes, transposes, pooling, concat, indexing;
ReLU only a positive one), and a convolution with constant weights absorbs it. An expr
whose users disagree, or any other op, stops the flow (and clears the factors below it
that relied on it). Constant-only exprs (attributes, constants and what is computed from
them only, like ``self.scale[0]``) are not part of the flow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import functional as F
from ... import module as M
from ...tensor import Tensor
from ..expr import CallFunction, CallMethod, Constant, Expr, GetAttr
from ..graph import InternalGraph
from ..node import Node, TensorNode
from .conv_weights import functional_conv
from .view import module_call

_MUL = ("__mul__", "__rmul__")
_ADD = ("__add__", "__radd__")
_PASS_METHODS = {"reshape", "transpose", "__getitem__", "flatten"}
_PASS_FUNCS = (F.reshape, F.transpose, F.avg_pool2d, F.adaptive_avg_pool2d, F.expand_dims,
               F.concat, F.flatten)
_PASS_MODULES = (M.AvgPool2d, M.AdaptiveAvgPool2d)
#: ops that commute with a positive scale only (``relu(c x) = c relu(x)`` for ``c > 0``)
_POSITIVE_METHODS = {"min", "max"}
_POSITIVE_FUNCS = (F.relu, F.leaky_relu, F.min, F.max, F.max_pool2d, F.adaptive_max_pool2d)
_POSITIVE_MODULES = (M.ReLU, M.LeakyReLU, M.MaxPool2d, M.AdaptiveMaxPool2d)


def constant_exprs(graph: InternalGraph) -> set[int]:
    """Ids of the exprs whose outputs are constants (attributes, constants, and what is
    computed from them alone)."""
    fixed: set[int] = set()
    for expr in graph._exprs:
        if isinstance(expr, (GetAttr, Constant)) or all(
                id(n.expr) in fixed for n in expr.inputs):
            fixed.add(id(expr))
    return fixed


def node_value(node: Any, fixed: set[int]) -> Any:
    """The value of a literal or of a constant node (see :func:`constant_exprs`)."""
    if not isinstance(node, Node):
        return node
    expr = node.expr
    if id(expr) not in fixed:
        return None
    if isinstance(expr, Constant):
        return expr.value
    if isinstance(expr, GetAttr):
        return node.owner if not isinstance(node, TensorNode) else _attr(expr)
    values = expr.interpret(*[node_value(n, fixed) for n in expr.inputs])
    return values[expr.outputs.index(node)]


def _attr(expr: GetAttr) -> Any:
    value: Any = expr.inputs[0].owner
    for part in expr.name.split("."):
        value = value[int(part)] if part.isdigit() and not hasattr(value, part) \
            else getattr(value, part)
    return value


def _binary(expr: Expr) -> tuple[Any, Any] | None:
    """The two operands of an add/mul expr (method or function form), else None."""
    if isinstance(expr, CallMethod) and expr.method in _MUL + _ADD:
        return expr.args[0], expr.args[1]
    if isinstance(expr, CallFunction) and (expr.func is F.mul or expr.func is F.add):
        return (expr.args + tuple(expr.kwargs.values()))[:2]
    return None


def is_mul(expr: Expr) -> bool:
    return (isinstance(expr, CallMethod) and expr.method in _MUL) or \
        (isinstance(expr, CallFunction) and expr.func is F.mul)


def split_const(expr: Expr, fixed: set[int]) -> tuple[TensorNode, float] | None:
    """``(x, c)`` for ``x * c``/``x + c`` (either order) with a scalar constant ``c``."""
    operands = _binary(expr)
    if operands is None:
        return None
    for x, c in (operands, operands[::-1]):
        if isinstance(x, TensorNode) and id(x.expr) not in fixed:
            value = node_value(c, fixed)
            if isinstance(value, Tensor):
                value = value.numpy()
            arr = np.asarray(value) if value is not None else None
            if arr is not None and arr.size == 1 and arr.dtype.kind in "fiu":
                return x, float(arr.reshape(()))
    return None


def is_conv(expr: Expr, module_calls: Callable[[Any], int]) -> bool:
    """A conv that can absorb a scale: a Conv2d called once, or F.conv2d with constant
    weights."""
    conv = module_call(expr, M.Conv2d)
    if conv is not None:
        return module_calls(conv) == 1
    return functional_conv(expr) is not None


def _kind(expr: Expr, fixed: set[int], module_calls: Callable[[Any], int]
          ) -> tuple[str, float | None]:
    """``("mul", c)``, ``("relu", None)``, ``("conv", None)``, ``("pass", None)`` or
    ``("stop", None)``."""
    if len(expr.outputs) != 1:
        return "stop", None
    if is_conv(expr, module_calls):
        return "conv", None
    if isinstance(expr, CallFunction) and expr.func is F.neg:
        return "mul", -1.0
    if _binary(expr) is not None:
        split = split_const(expr, fixed)
        if is_mul(expr):
            return ("mul", split[1]) if split is not None else ("stop", None)
        return "pass", None
    kind = "stop"
    if isinstance(expr, CallFunction):
        if any(expr.func is f for f in _POSITIVE_FUNCS):
            kind = "relu"
        elif any(expr.func is f for f in _PASS_FUNCS):
            kind = "pass"
    elif isinstance(expr, CallMethod):
        if expr.method in _POSITIVE_METHODS or module_call(expr, _POSITIVE_MODULES) is not None:
            kind = "relu"
        elif expr.method in _PASS_METHODS or module_call(expr, _PASS_MODULES) is not None:
            kind = "pass"
    data = expr.inputs[1:] if module_call(expr, M.Module) is not None else expr.inputs
    several = isinstance(expr, CallFunction) and expr.func is F.concat
    if not several and any(id(n.expr) not in fixed for n in data[1:]):
        return "stop", None  # a scaled index, shape or second operand would be wrong
    return kind, None


def scale_flow(graph: InternalGraph, module_calls: Callable[[Any], int]
               ) -> tuple[dict[int, float], dict[int, float]]:
    """``(factors, convs)``: the factor each expr (by id) passes on, and the factor each
    absorbing conv (by id) takes into its weights."""
    fixed = constant_exprs(graph)
    factors: dict[int, float | None] = {}
    convs: dict[int, float] = {}
    exprs = {id(e): e for e in graph._exprs}
    outputs = {id(n) for n in graph.outputs}

    def clear(expr: Expr) -> None:
        """No factor for ``expr`` and for the users below it (down to the next conv)."""
        stack, seen = [expr], set()
        while stack:
            e = stack.pop()
            if id(e) in seen or id(e) in fixed or (e is not expr and id(e) in convs):
                continue
            seen.add(id(e))
            factors[id(e)] = None
            stack += [u for o in e.outputs for u in o.users if id(u) in factors]

    for expr in reversed(graph._exprs):
        if id(expr) in fixed:
            continue
        kind, const = _kind(expr, fixed, module_calls)
        if kind == "stop":
            clear(expr)
            continue
        out = expr.outputs[0]
        downstream = [factors.get(id(u)) for u in out.users if id(u) not in fixed]
        if id(out) in outputs and downstream:
            downstream.append(None)  # an output must keep its value
        if not downstream:
            factors[id(expr)] = const
            continue
        if any(c is None or c != downstream[0] for c in downstream):
            clear(expr)
            factors[id(expr)] = const
            continue
        total = (1.0 if const is None else const) * downstream[0]
        if kind == "relu" and total < 0:
            clear(expr)
        elif kind == "conv":
            factors[id(expr)] = None  # the conv takes it: nothing flows further up
            convs[id(expr)] = total
        else:
            factors[id(expr)] = total
    # a conv whose users lost their factor after it was visited keeps its weights
    stale = True
    while stale:
        stale = False
        for key, total in list(convs.items()):
            users = [u for u in exprs[key].outputs[0].users if id(u) not in fixed]
            if any(factors.get(id(u)) != total for u in users):
                del convs[key]
                for u in users:
                    clear(u)
                stale = True
    return {k: v for k, v in factors.items() if v is not None}, convs


__all__ = ["constant_exprs", "is_conv", "is_mul", "node_value", "scale_flow", "split_const"]
