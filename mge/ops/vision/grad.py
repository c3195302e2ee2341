"""Gradient rules of the vision family: ``ResizeForward`` (NCHW).

Every resize mode interpolates each spatial axis on its own (the weights are a product
of per-axis weights), so a resize is ``y = A_h x A_w^T`` with fixed matrices, and its
gradient is ``dx = A_h^T dy A_w``. The rule obtains ``A_h`` and ``A_w`` by resizing
identity images with the op itself (one channel per source row or column, the other
axis of size 1), so the gradient follows the kernel's exact coordinate mapping.

Example:
    >>> ResizeForward.grad_rule is resize_grad
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..nn import MatrixMul
from ..registry import grad_rule
from ..shape import Dimshuffle, Subtensor
from . import ResizeForward

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]


def _axis_matrix(op: ResizeForward, ctx: GradContext, like: Tensor, size: int, axis: int
                 ) -> Tensor:
    """``A^T`` of spatial ``axis`` (2: rows, 3: columns): ``(size, out_size)``."""
    shape = (1, size, size, 1) if axis == 2 else (1, size, 1, size)
    eye = np.eye(size, dtype=like.dtype).reshape(shape)
    probe = ctx.one(op, ctx.const(eye, like, shape))
    other = 5 - axis
    items = ((0, 0, 1, 1, None), (other, 0, 1, 1, None))
    picked = ctx.one(Subtensor(items=items), probe)
    return ctx.reshape(picked, (size, op.dsize[axis - 2]))


@grad_rule(ResizeForward)
def resize_grad(op: ResizeForward, ctx: GradContext) -> Grads:
    """``dx = A_h^T dy A_w`` (NCHW float images)."""
    if op.format != "NCHW":
        raise NotImplementedError(f"no gradient rule for {op} (NCHW only)")
    x, dy = ctx.inputs[0], ctx.grad(0)
    n, c, h, w = x.shape
    oh, ow = op.dsize
    aht, awt = _axis_matrix(op, ctx, dy, h, 2), _axis_matrix(op, ctx, dy, w, 3)
    cols = ctx.one(MatrixMul(transposeB=True), ctx.reshape(dy, (n * c * oh, ow)), awt)
    rows = ctx.one(Dimshuffle(pattern=(0, 2, 1)), ctx.reshape(cols, (n * c, oh, w)))
    dx = ctx.one(MatrixMul(transposeB=True), ctx.reshape(rows, (n * c * w, oh)), aht)
    dx = ctx.one(Dimshuffle(pattern=(0, 2, 1)), ctx.reshape(dx, (n * c, w, h)))
    return [ctx.reshape(dx, x.shape)]


__all__ = ["resize_grad"]
