"""Gradient rules of ``FakeQuant``, ``TQT`` and ``LSQ`` (:mod:`.fake_quant`): MegEngine's
backward kernels (``dnn/src/naive/{fake_quant,tqt,lsq}``), written with ops through
``ctx`` so every backend runs them and outer sessions record them:

- ``FakeQuant``: ``dx = dy`` where ``qmin <= round(x / s) + zp <= qmax``, else 0 (a
  straight-through estimator); no gradient for ``s`` and ``zp``.
- ``TQT`` (``t = 2 ** s``, ``v = x / t``): ``dx = dy`` where
  ``qmin - 0.5 <= v <= qmax + 0.5``; ``ds = sum(dy * (q - v or q) * t * ln 2)`` with
  ``q`` the clipped ``round(v)`` (``q - v`` inside that range, ``q`` outside).
- ``LSQ`` (``v = x / s + zp``): ``dx = dy`` where ``qmin <= v <= qmax``;
  ``ds = sum(dy * g * (qmin below, qmax above, round(v) - v inside))``; none for
  ``zp`` and ``g``.

``ds`` is summed to the shape of ``s`` (a per-tensor or per-channel scale).

Example:
    >>> FakeQuant.grad_rule is fake_quant_grad
    True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..registry import grad_rule
from .fake_quant import LSQ, TQT, FakeQuant

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]
_LN2 = math.log(2.0)


def _mask(ctx: GradContext, cond: Tensor, like: Tensor) -> Tensor:
    """A bool tensor as 0/1 in ``like``'s dtype."""
    return ctx.cast(cond, like)


@grad_rule(FakeQuant)
def fake_quant_grad(op: FakeQuant, ctx: GradContext) -> Grads:
    """Straight through where the rounded code lies in ``[qmin, qmax]``."""
    if not ctx.needs(0):
        return [None, None, None]
    x, s, zp = ctx.inputs
    q = ctx.ew("ADD", ctx.ew("ROUND", ctx.ew("TRUE_DIV", x, s)), zp)
    inside = ctx.ew("AND", ctx.ew("LEQ", float(op.qmin), q), ctx.ew("LEQ", q, float(op.qmax)))
    return [ctx.sum_to(ctx.where(inside, ctx.grad(0)), x.shape), None, None]


@grad_rule(TQT)
def tqt_grad(op: TQT, ctx: GradContext) -> Grads:
    """Straight through inside ``[qmin - 0.5, qmax + 0.5]``; the learned exponent's
    gradient from the rounding error (inside) or the clipped code (outside)."""
    x, s = ctx.inputs
    dy = ctx.grad(0)
    t = ctx.ew("POW", 2.0, s)
    v = ctx.ew("TRUE_DIV", x, t)
    q = ctx.ew("MIN", ctx.ew("MAX", ctx.ew("ROUND", v), float(op.qmin)), float(op.qmax))
    clipped_cond = ctx.ew("OR", ctx.ew("LT", v, op.qmin - 0.5), ctx.ew("LT", op.qmax + 0.5, v))
    clipped = _mask(ctx, clipped_cond, dy)
    kept = ctx.ew("SUB", 1.0, clipped)
    dx = ctx.sum_to(ctx.ew("MUL", dy, kept), x.shape) if ctx.needs(0) else None
    ds = None
    if ctx.needs(1):
        each = ctx.ew("ADD", ctx.ew("MUL", kept, ctx.ew("SUB", q, v)), ctx.ew("MUL", clipped, q))
        ds_full = ctx.ew("MUL", ctx.ew("MUL", ctx.ew("MUL", dy, each), t), _LN2)
        ds = ctx.sum_to(ds_full, s.shape)
    return [dx, ds]


@grad_rule(LSQ)
def lsq_grad(op: LSQ, ctx: GradContext) -> Grads:
    """Straight through inside ``[qmin, qmax]``; the step size's gradient from the
    rounding error (inside) or the bound (outside), times ``grad_scale``."""
    x, s, zp, g = ctx.inputs
    dy = ctx.grad(0)
    v = ctx.ew("ADD", ctx.ew("TRUE_DIV", x, s), zp)
    below = _mask(ctx, ctx.ew("LT", v, float(op.qmin)), dy)
    above = _mask(ctx, ctx.ew("LT", float(op.qmax), v), dy)
    inside = ctx.ew("SUB", ctx.ew("SUB", 1.0, below), above)
    dx = ctx.sum_to(ctx.ew("MUL", dy, inside), x.shape) if ctx.needs(0) else None
    ds = None
    if ctx.needs(1):
        bounds = ctx.ew("ADD", ctx.ew("MUL", below, float(op.qmin)),
                        ctx.ew("MUL", above, float(op.qmax)))
        error = ctx.ew("MUL", inside, ctx.ew("SUB", ctx.ew("ROUND", v), v))
        each = ctx.ew("MUL", ctx.ew("MUL", ctx.ew("ADD", bounds, error), g), dy)
        ds = ctx.sum_to(each, s.shape)
    return [dx, ds, None, None]
