"""Gradient rules of the elementwise family: ``Elemwise`` (per mode), ``TypeCvt``, ``PowC``.

Rules compute with ops through their ``ctx`` (``mge.core.autodiff.GradContext``), so
they run on every backend and outer ``GradManager`` sessions record them (higher order).

Each ``Elemwise`` mode's rule maps ``(ctx, dy)`` to the input gradients before
broadcasting; the op's rule then sums each to its input's shape. Modes without a
derivative (comparisons, rounding, integer ops) have none: rounding and sign give no
gradient, the others raise naming the op and mode when differentiated.

Example:
    >>> "SIN" in ELEMWISE_GRADS and Elemwise.grad_rule is elemwise_grad
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..registry import grad_rule
from . import Elemwise, PowC, TypeCvt

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]
#: ``(ctx, dy) -> input gradients`` of one Elemwise mode
Rule = Callable[..., Grads]
_SQRT_PI_2 = math.sqrt(math.pi) / 2
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _x(ctx: GradContext, k: int = 0) -> Tensor:
    return ctx.inputs[k]


def _y(ctx: GradContext) -> Tensor:
    return ctx.outputs[0]


def _scaled(fn: Callable[[GradContext], Tensor]) -> Rule:
    """A unary rule ``dx = dy * fn(ctx)``."""
    return lambda ctx, dy: [ctx.ew("MUL", dy, fn(ctx))]


def _sigmoid(ctx: GradContext, x: Tensor) -> Tensor:
    return ctx.ew("SIGMOID", x)


def _ew(c: GradContext, mode: str, *xs: Tensor | float) -> Tensor:
    return c.ew(mode, *xs)


def _unary_rules() -> dict[str, Rule]:
    ew = _ew
    sq = lambda c, t: ew(c, "MUL", t, t)  # noqa: E731
    return {
        "NEGATE": lambda c, dy: [ew(c, "NEGATE", dy)],
        # MegEngine's rule: one SWITCH_GT0 pass (dy where x > 0, else exactly 0)
        "RELU": lambda c, dy: [ew(c, "SWITCH_GT0", _x(c), dy)],
        "ABS": _scaled(lambda c: ew(c, "SIGN", _x(c))),
        "EXP": _scaled(_y),
        "EXPM1": _scaled(lambda c: ew(c, "ADD", _y(c), 1.0)),
        "LOG": lambda c, dy: [ew(c, "TRUE_DIV", dy, _x(c))],
        "LOG1P": lambda c, dy: [ew(c, "TRUE_DIV", dy, ew(c, "ADD", _x(c), 1.0))],
        "SIGMOID": _scaled(lambda c: ew(c, "MUL", _y(c), ew(c, "SUB", 1.0, _y(c)))),
        "TANH": _scaled(lambda c: ew(c, "SUB", 1.0, sq(c, _y(c)))),
        "FAST_TANH": _scaled(lambda c: ew(c, "SUB", 1.0, sq(c, ew(c, "TANH", _x(c))))),
        "SIN": _scaled(lambda c: ew(c, "COS", _x(c))),
        "COS": _scaled(lambda c: ew(c, "NEGATE", ew(c, "SIN", _x(c)))),
        "TAN": _scaled(lambda c: ew(c, "ADD", 1.0, sq(c, _y(c)))),
        "SQRT": lambda c, dy: [ew(c, "TRUE_DIV", dy, ew(c, "MUL", _y(c), 2.0))],
        "SQUARE": _scaled(lambda c: ew(c, "MUL", _x(c), 2.0)),
        "ASIN": lambda c, dy: [ew(c, "TRUE_DIV", dy, ew(c, "SQRT", ew(c, "SUB", 1.0,
                                                                      sq(c, _x(c)))))],
        "ACOS": lambda c, dy: [ew(c, "NEGATE", ew(c, "TRUE_DIV", dy, ew(
            c, "SQRT", ew(c, "SUB", 1.0, sq(c, _x(c))))))],
        "SINH": _scaled(lambda c: ew(c, "COSH", _x(c))),
        "COSH": _scaled(lambda c: ew(c, "SINH", _x(c))),
        "ASINH": lambda c, dy: [ew(c, "TRUE_DIV", dy, ew(c, "SQRT", ew(c, "ADD", sq(c, _x(c)),
                                                                       1.0)))],
        "ACOSH": lambda c, dy: [ew(c, "TRUE_DIV", dy, ew(c, "SQRT", ew(c, "SUB", sq(c, _x(c)),
                                                                       1.0)))],
        "ATANH": lambda c, dy: [ew(c, "TRUE_DIV", dy, ew(c, "SUB", 1.0, sq(c, _x(c))))],
        "ERF": _scaled(lambda c: ew(c, "MUL", ew(c, "EXP", ew(c, "NEGATE", sq(c, _x(c)))),
                                    1 / _SQRT_PI_2)),
        "ERFC": _scaled(lambda c: ew(c, "MUL", ew(c, "EXP", ew(c, "NEGATE", sq(c, _x(c)))),
                                     -1 / _SQRT_PI_2)),
        "ERFINV": _scaled(lambda c: ew(c, "MUL", ew(c, "EXP", sq(c, _y(c))), _SQRT_PI_2)),
        "ERFCINV": _scaled(lambda c: ew(c, "MUL", ew(c, "EXP", sq(c, _y(c))), -_SQRT_PI_2)),
        "SOFTPLUS": _scaled(lambda c: _sigmoid(c, _x(c))),
        "LOGSIGMOID": _scaled(lambda c: _sigmoid(c, ew(c, "NEGATE", _x(c)))),
        "SILU": _scaled(lambda c: _silu_slope(c, _x(c))),
        "GELU": _scaled(lambda c: _gelu_slope(c, _x(c))),
        "H_SWISH": _scaled(lambda c: _hswish_slope(c, _x(c))),
        "HSIGMOID": lambda c, dy: [c.where(_open(c, _x(c), -3.0, 3.0), ew(c, "MUL", dy,
                                                                           1 / 6))],
        "RELU6": lambda c, dy: [c.where(_open(c, _x(c), 0.0, 6.0), dy)],
        "CEIL": lambda c, dy: [None],
        "FLOOR": lambda c, dy: [None],
        "ROUND": lambda c, dy: [None],
        "SIGN": lambda c, dy: [None],
    }


def _open(ctx: GradContext, x: Tensor, lo: float, hi: float) -> Tensor:
    """Bool mask ``lo < x < hi``."""
    return ctx.ew("AND", ctx.ew("LT", lo, x), ctx.ew("LT", x, hi))


def _silu_slope(ctx: GradContext, x: Tensor) -> Tensor:
    s = _sigmoid(ctx, x)
    return ctx.ew("MUL", s, ctx.ew("ADD", 1.0, ctx.ew("MUL", x, ctx.ew("SUB", 1.0, s))))


def _gelu_slope(ctx: GradContext, x: Tensor) -> Tensor:
    """``Phi(x) + x * phi(x)`` (exact, erf-based GELU)."""
    cdf = ctx.ew("MUL", ctx.ew("ADD", 1.0, ctx.ew("ERF", ctx.ew("MUL", x, 1 / math.sqrt(2)))),
                 0.5)
    pdf = ctx.ew("MUL", ctx.ew("EXP", ctx.ew("MUL", ctx.ew("MUL", x, x), -0.5)), _INV_SQRT_2PI)
    return ctx.ew("ADD", cdf, ctx.ew("MUL", x, pdf))


def _hswish_slope(ctx: GradContext, x: Tensor) -> Tensor:
    """0 below -3, 1 above 3, ``(2x + 3) / 6`` between."""
    mid = ctx.where(_open(ctx, x, -3.0, 3.0), ctx.ew("MUL", ctx.ew("ADD", ctx.ew(
        "MUL", x, 2.0), 3.0), 1 / 6))
    return ctx.ew("ADD", mid, ctx.cast(ctx.ew("LEQ", 3.0, x), x))


def _fused(inner: str) -> Rule:
    """Rules of ``FUSE_ADD_<inner>``: the unary rule of ``inner`` at ``a + b``."""
    def rule(ctx: GradContext, dy: Tensor) -> Grads:
        s = ctx.ew("ADD", *ctx.inputs)
        sub = type(ctx)((s,), (ctx.outputs[0],), [dy])
        (ds,) = UNARY[inner](sub, dy)
        return [ds, ds]
    return rule


def _binary_rules() -> dict[str, Rule]:
    ew = _ew

    def div(c: GradContext, dy: Tensor) -> Grads:
        a, b = c.inputs
        da = ew(c, "TRUE_DIV", dy, b)
        return [da, ew(c, "NEGATE", ew(c, "MUL", da, ew(c, "TRUE_DIV", a, b)))]

    def pow_(c: GradContext, dy: Tensor) -> Grads:
        a, b = c.inputs
        da = ew(c, "MUL", dy, ew(c, "MUL", b, ew(c, "POW", a, ew(c, "SUB", b, 1.0))))
        return [da, ew(c, "MUL", dy, ew(c, "MUL", _y(c), ew(c, "LOG", a)))]

    def extreme(wins: str) -> Rule:
        """MAX/MIN: the first input wins ties (MegEngine: ``maximum(x, x)`` has gradient 1)."""
        def rule(c: GradContext, dy: Tensor) -> Grads:
            a, b = c.inputs
            first = ew(c, "LEQ", b, a) if wins == "MAX" else ew(c, "LEQ", a, b)
            return [c.where(first, dy), c.where(ew(c, "NOT", first), dy)]
        return rule

    def atan2(c: GradContext, dy: Tensor) -> Grads:
        a, b = c.inputs
        r = ew(c, "TRUE_DIV", dy, ew(c, "ADD", ew(c, "MUL", a, a), ew(c, "MUL", b, b)))
        return [ew(c, "MUL", r, b), ew(c, "NEGATE", ew(c, "MUL", r, a))]

    def prelu(c: GradContext, dy: Tensor) -> Grads:
        x, w = c.inputs
        pos = ew(c, "LT", 0.0, x)
        dx = ew(c, "MUL", dy, ew(c, "ADD", c.cast(pos, x), c.where(ew(c, "NOT", pos), w)))
        return [dx, c.where(ew(c, "NOT", pos), ew(c, "MUL", dy, x))]

    def lse(c: GradContext, dy: Tensor) -> Grads:
        return [ew(c, "MUL", dy, ew(c, "EXP", ew(c, "SUB", x, _y(c)))) for x in c.inputs]

    return {
        "ADD": lambda c, dy: [dy, dy],
        "SUB": lambda c, dy: [dy, ew(c, "NEGATE", dy)],
        "MUL": lambda c, dy: [ew(c, "MUL", dy, _x(c, 1)), ew(c, "MUL", dy, _x(c, 0))],
        "TRUE_DIV": div,
        "POW": pow_,
        "MAX": extreme("MAX"),
        "MIN": extreme("MIN"),
        "ATAN2": atan2,
        "PRELU": prelu,
        "LOG_SUM_EXP": lse,
        "SWITCH_GT0": lambda c, dy: [None, c.where(ew(c, "LT", 0.0, _x(c)), dy)],
        "FUSE_ADD_RELU": lambda c, dy: [ew(c, "SWITCH_GT0", _y(c), dy)] * 2,
        "FUSE_ADD_SIGMOID": _fused("SIGMOID"),
        "FUSE_ADD_TANH": _fused("TANH"),
        "FUSE_ADD_H_SWISH": _fused("H_SWISH"),
        "FUSE_MUL_ADD3": lambda c, dy: [ew(c, "MUL", dy, _x(c, 1)), ew(c, "MUL", dy, _x(c, 0)),
                                        dy],
        "FUSE_MUL_ADD4": lambda c, dy: [ew(c, "MUL", dy, _x(c, 1)), ew(c, "MUL", dy, _x(c, 0)),
                                        ew(c, "MUL", dy, _x(c, 3)), ew(c, "MUL", dy, _x(c, 2))],
        "CLIP": lambda c, dy: [c.where(ew(c, "AND", ew(c, "LEQ", _x(c, 1), _x(c)),
                                          ew(c, "LEQ", _x(c), _x(c, 2))), dy), None, None],
    }


UNARY = _unary_rules()
#: Elemwise mode -> rule ``(ctx, dy) -> input gradients`` (before summing to shapes)
ELEMWISE_GRADS: dict[str, Rule] = {**UNARY, **_binary_rules()}


@grad_rule(Elemwise)
def elemwise_grad(op: Elemwise, ctx: GradContext) -> Grads:
    """``Elemwise.grad_rule``: the mode's rule, each gradient summed to its input's shape."""
    rule = ELEMWISE_GRADS.get(op.mode)
    if rule is None:
        raise NotImplementedError(f"no gradient rule for {op} (mode {op.mode} has no "
                                  "derivative in mge)")
    got = rule(ctx, ctx.grad(0))
    return [None if g is None or x.dtype.kind != "f" else ctx.sum_to(g, x.shape)
            for g, x in zip(got, ctx.inputs)]


@grad_rule(TypeCvt)
def typecvt_grad(op: TypeCvt, ctx: GradContext) -> Grads:
    """The gradient converted back to the input's float dtype (none for other inputs)."""
    x = ctx.inputs[0]
    return [ctx.cast(ctx.grad(0), x) if x.dtype.kind == "f" else None]


@grad_rule(PowC)
def powc_grad(op: PowC, ctx: GradContext) -> Grads:
    """``dy * exp * x ** (exp - 1)``."""
    x = ctx.inputs[0]
    slope = ctx.ew("MUL", ctx.one(PowC(exp=op.exp - 1), x), op.exp)
    return [ctx.ew("MUL", ctx.grad(0), slope)]


__all__ = ["ELEMWISE_GRADS", "elemwise_grad", "powc_grad", "typecvt_grad"]
