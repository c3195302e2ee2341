"""Gradient rules of the nn family: matrix products, softmax and batch normalization
(written with ops through ``ctx``, see ``mge.ops.registry.grad_rule``).

Example:
    >>> MatrixMul.grad_rule is matmul_grad
    True
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from ..registry import grad_rule
from . import (
    BatchedMatrixMul,
    BatchNormBackward,
    BatchNormForward,
    BNParams,
    MatrixMul,
    SoftmaxForward,
)

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]


@grad_rule(MatrixMul, BatchedMatrixMul)
def matmul_grad(op: MatrixMul, ctx: GradContext) -> Grads:
    """``dA = dC op(B)^T`` and ``dB = op(A)^T dC``, laid out as A and B are stored."""
    a, b = ctx.inputs
    dc = ctx.grad(0)
    kind, ta, tb = type(op), op.transposeA, op.transposeB

    def mm(x: Tensor, y: Tensor, tx: bool, ty: bool) -> Tensor:
        return ctx.one(kind(transposeA=tx, transposeB=ty, compute_mode=op.compute_mode), x, y)

    da = mm(b, dc, tb, True) if ta else mm(dc, b, False, not tb)
    db = mm(dc, a, True, ta) if tb else mm(a, dc, not ta, False)
    return [da, db]


@grad_rule(SoftmaxForward)
def softmax_grad(op: SoftmaxForward, ctx: GradContext) -> Grads:
    """``y * (dy - sum(dy * y))`` along the axis."""
    y, dy = ctx.outputs[0], ctx.grad(0)
    total = ctx.reduce("SUM", ctx.ew("MUL", dy, y), [op.axis % y.ndim])
    return [ctx.ew("MUL", y, ctx.ew("SUB", dy, total))]


@grad_rule(BatchNormForward)
def batch_norm_grad(op: BatchNormForward, ctx: GradContext) -> Grads:
    """Gradients of ``x``, ``scale`` and ``bias`` from the gradient of ``y`` (output 5);
    training differentiates through the batch statistics, the running ones get none.
    ``BatchNormBackward`` computes them in one op unless the gradients are themselves
    differentiated (then the rule composes elementwise ops and reductions)."""
    x, scale = ctx.inputs[0], ctx.inputs[1]
    mean, inv = ctx.outputs[2], ctx.outputs[3]
    rest = [None] * (len(ctx.inputs) - 3)
    if not ctx.tracked():
        params = {f.name: getattr(op, f.name) for f in dataclasses.fields(BNParams)}
        dscale, dbias, dx = ctx.apply(BatchNormBackward(**params), x, ctx.grad(5), mean, inv,
                                      scale, ctx.outputs[4])
        return [dx, dscale, dbias, *rest]
    full = tuple(x.shape) + (1,) * (4 - x.ndim)
    x4, dy = ctx.reshape(x, full), ctx.reshape(ctx.grad(5), full)
    axes = [k for k in range(4) if scale.shape[k] == 1]
    xhat = ctx.ew("MUL", ctx.ew("SUB", x4, mean), inv)
    dbias = ctx.reduce("SUM", dy, axes)
    dscale = ctx.reduce("SUM", ctx.ew("MUL", dy, xhat), axes)
    dxhat = ctx.ew("MUL", dy, scale)
    if op.fwd_mode == "TRAINING":
        count = float(math.prod(full[k] for k in axes))
        centered = ctx.ew("SUB", ctx.ew("MUL", dxhat, count), ctx.reduce("SUM", dxhat, axes))
        centered = ctx.ew("SUB", centered, ctx.ew("MUL", xhat, ctx.reduce(
            "SUM", ctx.ew("MUL", dxhat, xhat), axes)))
        dx = ctx.ew("MUL", centered, ctx.ew("TRUE_DIV", inv, count))
    else:
        dx = ctx.ew("MUL", dxhat, inv)
    return [ctx.reshape(dx, x.shape), dscale, dbias, *rest]


__all__ = ["batch_norm_grad", "matmul_grad", "softmax_grad"]
