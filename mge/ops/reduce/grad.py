"""Gradient rules of the reduction family: ``Reduce``, ``Cumsum`` and the sorted values of
``TopK`` and ``ArgsortForward`` (written with ops through ``ctx``).

Example:
    >>> Reduce.grad_rule is reduce_grad
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..registry import grad_rule
from ..shape import Broadcast, IndexingIncrMultiAxisVec
from . import REDUCE_ALL, ArgsortForward, Cumsum, Reduce, TopK

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


@grad_rule(Cumsum)
def cumsum_grad(op: Cumsum, ctx: GradContext) -> Grads:
    """The gradient summed the other way: a cumulative sum of ``dy`` with ``reverse``
    flipped and the same ``exclusive``."""
    if ctx.inputs[0].dtype.kind != "f":
        return [None]
    back = Cumsum(axis=op.axis, exclusive=op.exclusive, reverse=not op.reverse)
    return [ctx.one(back, ctx.grad(0))]


def _sorted_values_grad(op: TopK | ArgsortForward, ctx: GradContext) -> Grads:
    """``dy`` of the values (output 0) added back at the positions output 1 names."""
    x, index = ctx.inputs[0], ctx.outputs[1]
    if x.dtype.kind != "f":
        return [None]
    rows = x.shape[0]
    row = ctx.const(np.arange(rows).reshape(rows, 1), index, (rows, 1))
    vec = (0, None, None, None, True), (1, None, None, None, True)
    return [ctx.one(IndexingIncrMultiAxisVec(items=vec), ctx.const(0.0, x, x.shape),
                    ctx.grad(0), row, index)]


@grad_rule(TopK)
def topk_grad(op: TopK, ctx: GradContext) -> Grads:
    """The values' gradient at the places the indices name (``KTH_ONLY`` has no indices
    and no rule)."""
    if op.mode == "KTH_ONLY":
        raise NotImplementedError(f"no gradient rule for {op} (KTH_ONLY outputs no indices; "
                                  "use VALUE_IDX_SORTED)")
    return _sorted_values_grad(op, ctx)


@grad_rule(ArgsortForward)
def argsort_grad(op: ArgsortForward, ctx: GradContext) -> Grads:
    """The sorted values' gradient scattered back through the permutation."""
    return _sorted_values_grad(op, ctx)


__all__ = ["argsort_grad", "cumsum_grad", "reduce_grad", "topk_grad"]
