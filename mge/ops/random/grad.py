"""Gradient rule of ``ShuffleRNG``: the output gradient written back to the rows it was
drawn from (the indices are a permutation, so none repeats).

Example:
    >>> ShuffleRNG.grad_rule is shuffle_grad
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import grad_rule
from ..shape import IndexingSetMultiAxisVec
from . import ShuffleRNG

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor


@grad_rule(ShuffleRNG)
def shuffle_grad(op: ShuffleRNG, ctx: GradContext) -> list[Tensor | None]:
    """``dx[indices] = dy`` (a 0-d input gets its gradient back as 0-d)."""
    x = ctx.inputs[0]
    _, index = ctx.outputs
    dy = ctx.grad(0)
    setter = IndexingSetMultiAxisVec(items=((0, None, None, None, True),))
    dx = ctx.one(setter, ctx.const(0.0, dy, dy.shape), dy, index)
    return [ctx.reshape(dx, x.shape) if x.ndim == 0 else dx]


__all__ = ["shuffle_grad"]
