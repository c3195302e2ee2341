"""Gradient rules of the nn family: matrix products, softmax, batch normalization and the
feature normalizations (written with ops through ``ctx``, see ``mge.ops.registry.grad_rule``).

Example:
    >>> MatrixMul.grad_rule is matmul_grad
    True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..registry import grad_rule
from . import (
    LRN,
    BatchedMatrixMul,
    BatchNormBackward,
    BatchNormForward,
    BNParams,
    GeneralNorm,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    MatrixInverse,
    MatrixMul,
    SoftmaxForward,
)

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.opdef import OpDef
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


@grad_rule(MatrixInverse)
def matrix_inverse_grad(op: MatrixInverse, ctx: GradContext) -> Grads:
    """``dA = -Y^T dY Y^T`` for ``Y = A^-1`` (batched over leading axes)."""
    y, dy = ctx.outputs[0], ctx.grad(0)
    shape = tuple(y.shape)
    n = shape[-1]
    batch = (math.prod(shape[:-2]), n, n)
    y3, dy3 = ctx.reshape(y, batch), ctx.reshape(dy, batch)
    left = ctx.one(BatchedMatrixMul(transposeA=True), y3, dy3)
    da = ctx.one(BatchedMatrixMul(transposeB=True), left, y3)
    return [ctx.reshape(ctx.ew("NEGATE", da), shape)]


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


def _standardize_grad(ctx: GradContext, x: Tensor, g: Tensor, mean: Tensor, rstd: Tensor,
                      rows: int) -> Tensor:
    """``dx`` of ``xhat = (x - mean) * rstd`` over each of ``rows`` slices, given the
    gradient ``g`` of ``xhat`` (float32, ``x``'s shape; ``mean``/``rstd`` one per slice):
    ``rstd * (g - mean(g) - xhat * mean(g * xhat))``."""
    shape = tuple(x.shape)
    size = math.prod(shape) // max(rows, 1)
    x2, g2 = ctx.reshape(x, (rows, size)), ctx.reshape(g, (rows, size))
    mean, rstd = ctx.reshape(mean, (rows, 1)), ctx.reshape(rstd, (rows, 1))
    xhat = ctx.ew("MUL", ctx.ew("SUB", x2, mean), rstd)
    g_mean = ctx.ew("TRUE_DIV", ctx.reduce("SUM", g2, [1]), float(size))
    gx_mean = ctx.ew("TRUE_DIV", ctx.reduce("SUM", ctx.ew("MUL", g2, xhat), [1]), float(size))
    dx = ctx.ew("SUB", ctx.ew("SUB", g2, g_mean), ctx.ew("MUL", xhat, gx_mean))
    return ctx.reshape(ctx.ew("MUL", dx, rstd), shape)


def _norm_grads(op: OpDef, ctx: GradContext, affine: bool, xhat_of: Callable[[Tensor], Tensor],
                param_view: tuple[int, ...], param_axes: list[int], rows: int,
                mean: Tensor, rstd: Tensor) -> Grads:
    """``[dx, dweight, dbias]`` (or ``[dx]``) of ``y = xhat * weight + bias``."""
    if any(g is not None for g in ctx.grads[1:]):
        raise NotImplementedError(f"no gradient through the statistics outputs of {op}: "
                                  "only the normalized output is differentiable")
    x = ctx.inputs[0]
    f32 = mean
    xf, dy = ctx.cast(x, f32), ctx.cast(ctx.grad(0), f32)
    if not affine:
        return [ctx.cast(_standardize_grad(ctx, xf, dy, mean, rstd, rows), x)]
    weight = ctx.inputs[1]
    w = ctx.reshape(ctx.cast(weight, f32), param_view)
    xhat = xhat_of(xf)
    dweight = ctx.reduce("SUM", ctx.ew("MUL", dy, xhat), param_axes)
    dbias = ctx.reduce("SUM", dy, param_axes)
    dx = _standardize_grad(ctx, xf, ctx.ew("MUL", dy, w), mean, rstd, rows)
    return [ctx.cast(dx, x), ctx.cast(ctx.reshape(dweight, weight.shape), weight),
            ctx.cast(ctx.reshape(dbias, weight.shape), weight)]


@grad_rule(LayerNorm)
def layer_norm_grad(op: LayerNorm, ctx: GradContext) -> Grads:
    """The standardization's gradient over each trailing slice; ``weight``/``bias`` sum
    over the leading dims."""
    x, mean, rstd = ctx.inputs[0], ctx.outputs[1], ctx.outputs[2]
    lead = x.ndim - op.normalized_dim
    rows = math.prod(x.shape[:lead])
    view = (1,) * lead + tuple(x.shape[lead:])

    def xhat_of(xf: Tensor) -> Tensor:
        shape = tuple(mean.shape) + (1,) * op.normalized_dim
        return ctx.ew("MUL", ctx.ew("SUB", xf, ctx.reshape(mean, shape)),
                      ctx.reshape(rstd, shape))

    return _norm_grads(op, ctx, op.affine, xhat_of, view, list(range(lead)), rows, mean, rstd)


@grad_rule(GroupNorm, InstanceNorm)
def group_norm_grad(op: GroupNorm, ctx: GradContext) -> Grads:
    """The standardization's gradient over each (sample, group); the outputs hold the
    variance, so ``rstd = 1 / sqrt(var + eps)``; ``weight``/``bias`` are per channel."""
    x, mean, var = ctx.inputs[0], ctx.outputs[1], ctx.outputs[2]
    n, c = x.shape[:2]
    groups = op.groups(c)
    rstd = ctx.ew("TRUE_DIV", 1.0, ctx.ew("SQRT", ctx.ew("ADD", var, float(op.eps))))

    def xhat_of(xf: Tensor) -> Tensor:
        xg = ctx.reshape(xf, (n, groups, math.prod(x.shape) // (n * groups)))
        m, r = ctx.reshape(mean, (n, groups, 1)), ctx.reshape(rstd, (n, groups, 1))
        return ctx.reshape(ctx.ew("MUL", ctx.ew("SUB", xg, m), r), x.shape)

    return _norm_grads(op, ctx, op.affine, xhat_of, (1, c, 1, 1), [0, 2, 3], n * groups, mean,
                       rstd)


@grad_rule(GeneralNorm)
def general_norm_grad(op: GeneralNorm, ctx: GradContext) -> Grads:
    """The standardization's gradient over the dims ``axis_start .. axis_end - 1``, on the
    input viewed as ``(before, normalized, after)``; ``weight``/``bias`` sum over the rest."""
    if any(g is not None for g in ctx.grads[1:]):
        raise NotImplementedError(f"no gradient through the statistics outputs of {op}: "
                                  "only the normalized output is differentiable")
    x, mean, rstd = ctx.inputs[0], ctx.outputs[1], ctx.outputs[2]
    shape = tuple(x.shape)
    view = (math.prod(shape[:op.axis_start]), math.prod(shape[op.axis_start:op.axis_end]),
            math.prod(shape[op.axis_end:]))
    xf, dy = ctx.reshape(ctx.cast(x, mean), view), ctx.reshape(ctx.cast(ctx.grad(0), mean), view)
    stat = (view[0], 1, view[2])
    m, r = ctx.reshape(mean, stat), ctx.reshape(rstd, stat)
    xhat = ctx.ew("MUL", ctx.ew("SUB", xf, m), r)
    g = dy
    if op.affine:
        weight = ctx.inputs[1]
        g = ctx.ew("MUL", dy, ctx.reshape(ctx.cast(weight, mean), (1, view[1], 1)))
    g_mean = ctx.ew("TRUE_DIV", ctx.reduce("SUM", g, [1]), float(view[1]))
    gx_mean = ctx.ew("TRUE_DIV", ctx.reduce("SUM", ctx.ew("MUL", g, xhat), [1]), float(view[1]))
    dx = ctx.ew("MUL", ctx.ew("SUB", ctx.ew("SUB", g, g_mean), ctx.ew("MUL", xhat, gx_mean)), r)
    dx = ctx.cast(ctx.reshape(dx, shape), x)
    if not op.affine:
        return [dx]
    weight = ctx.inputs[1]
    dweight = ctx.reduce("SUM", ctx.ew("MUL", dy, xhat), [0, 2])
    dbias = ctx.reduce("SUM", dy, [0, 2])
    return [dx, ctx.cast(ctx.reshape(dweight, weight.shape), weight),
            ctx.cast(ctx.reshape(dbias, weight.shape), weight)]


@grad_rule(LRN)
def lrn_grad(op: LRN, ctx: GradContext) -> Grads:
    """``y = x * d^-beta`` with ``d = k + alpha * window_sum(x^2)`` (channel windows of
    ``n``): ``dx = dy * d^-beta - 2 alpha beta x * window_sum(dy * x * d^(-beta - 1))``.
    The window is symmetric, so one banded ``(C, C)`` matrix product sums it both ways."""
    x, dy = ctx.inputs[0], ctx.grad(0)
    n, c = x.shape[:2]
    flat = (n, c, math.prod(x.shape[2:]))
    band = np.abs(np.subtract.outer(np.arange(c), np.arange(c))) <= op.n // 2
    band = ctx.const(band, x, (n, c, c))

    def window_sum(v: Tensor) -> Tensor:
        return ctx.reshape(ctx.one(BatchedMatrixMul(), band, ctx.reshape(v, flat)), x.shape)

    d = ctx.ew("ADD", ctx.ew("MUL", window_sum(ctx.ew("MUL", x, x)), float(op.alpha)),
               float(op.k))
    direct = ctx.ew("MUL", dy, ctx.ew("POW", d, -float(op.beta)))
    inner = ctx.ew("MUL", ctx.ew("MUL", dy, x), ctx.ew("POW", d, -float(op.beta) - 1.0))
    cross = ctx.ew("MUL", ctx.ew("MUL", x, window_sum(inner)),
                   -2.0 * float(op.alpha) * float(op.beta))
    return [ctx.ew("ADD", direct, cross)]


__all__ = ["batch_norm_grad", "general_norm_grad", "group_norm_grad", "layer_norm_grad",
           "lrn_grad", "matmul_grad", "matrix_inverse_grad", "softmax_grad"]
