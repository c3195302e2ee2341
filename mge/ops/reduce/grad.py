"""Gradient rule of the reduction family's ``Reduce`` (written with ops through ``ctx``).

Example:
    >>> Reduce.grad_rule is reduce_grad
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import grad_rule
from ..shape import Broadcast
from . import REDUCE_ALL, Reduce

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]


@grad_rule(Reduce)
def reduce_grad(op: Reduce, ctx: GradContext) -> Grads:
    """SUM/MEAN spread the gradient; SUM_SQR scales by ``2x``; MAX/MIN pass it to every
    extreme element; PRODUCT multiplies by ``y / x``."""
    x, y = ctx.inputs[0], ctx.outputs[0]
    if x.dtype.kind != "f":
        return [None]
    kept = (1,) * x.ndim if op.axis == REDUCE_ALL else y.shape
    dy = ctx.one(Broadcast(shape=x.shape), ctx.reshape(ctx.cast(ctx.grad(0), x), kept))
    if op.mode == "SUM":
        return [dy]
    if op.mode == "MEAN":
        return [ctx.ew("TRUE_DIV", dy, float(x.size // max(y.size, 1)))]
    if op.mode == "SUM_SQR":
        return [ctx.ew("MUL", dy, ctx.ew("MUL", x, 2.0))]
    wide_y = ctx.one(Broadcast(shape=x.shape), ctx.reshape(ctx.cast(y, x), kept))
    if op.mode in ("MAX", "MIN"):
        return [ctx.where(ctx.ew("EQ", x, wide_y), dy)]
    return [ctx.ew("MUL", dy, ctx.ew("TRUE_DIV", wide_y, x))]  # PRODUCT


__all__ = ["reduce_grad"]
