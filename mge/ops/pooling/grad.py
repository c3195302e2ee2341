"""Gradient rules of the pooling family: average pooling spreads each window's share
back with a transposed convolution of ones; max pooling gives each window's gradient to
every cell equal to its maximum (as MegEngine 1.13; torch picks the first one only):
``PoolingBackward`` in one op, or one masked pass per window cell composed of ops when
the gradient is itself differentiated.

Example:
    >>> PoolingForward.grad_rule is pooling_grad
    True
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from ..conv import ConvolutionBackwardData
from ..registry import grad_rule
from ..shape import Dimshuffle, Padding, SetSubtensor, Subtensor
from . import (
    AdaptivePoolingForward,
    PoolingBackward,
    PoolingForward,
    PoolingParams,
    spatial_size,
)

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]
_TO_NCHW, _TO_NHWC = Dimshuffle(pattern=(0, 3, 1, 2)), Dimshuffle(pattern=(0, 2, 3, 1))


def _average_counts(op: PoolingForward, hw: tuple[int, int], out: tuple[int, int]) -> np.ndarray:
    """Cells each output window averages over (padding counted or not, per ``mode``)."""
    if op.mode == "AVERAGE":
        return np.full(out, op.window_h * op.window_w)
    sizes = []
    for n, o, k, s, p in zip(hw, out, (op.window_h, op.window_w), (op.stride_h, op.stride_w),
                             (op.pad_h, op.pad_w)):
        start = np.arange(o) * s - p
        sizes.append(np.minimum(start + k, n) - np.maximum(start, 0))
    return np.outer(*sizes)


@grad_rule(PoolingForward)
def pooling_grad(op: PoolingForward, ctx: GradContext) -> Grads:
    """Average: each window's share spread back by a transposed convolution of ones;
    max: every maximum of a window gets the window's gradient."""
    x, y, dy = ctx.inputs[0], ctx.outputs[0], ctx.grad(0)
    if op.mode == "MAX" and not ctx.tracked():
        params = {f.name: getattr(op, f.name) for f in dataclasses.fields(PoolingParams)}
        return [ctx.one(PoolingBackward(**params), x, y, dy)]
    if op.mode == "MAX":
        if op.format == "NCHW":
            return [_max_pool_grad(op, ctx, x, y, dy)]
        x, y, dy = (ctx.one(_TO_NCHW, t) for t in (x, y, dy))
        return [ctx.one(_TO_NHWC, _max_pool_grad(op, ctx, x, y, dy))]
    nhwc = op.format == "NHWC"
    (h, w), c = spatial_size(op, x.shape), x.shape[3 if nhwc else 1]
    out = spatial_size(op, y.shape)
    counts = _average_counts(op, (h, w), out)
    share = ctx.ew("TRUE_DIV", dy, ctx.const(counts[..., None] if nhwc else counts, dy,
                                             (*out, 1) if nhwc else out))
    kernel = (op.window_h, op.window_w)
    ones = ctx.const(1.0, dy, (c, 1, *kernel, 1) if nhwc else (c, 1, 1, *kernel))
    spread = ConvolutionBackwardData(pad_h=op.pad_h, pad_w=op.pad_w, stride_h=op.stride_h,
                                     stride_w=op.stride_w, sparse="GROUP", format=op.format,
                                     output_hw=(h, w))
    return [ctx.one(spread, ones, share)]


def _max_pool_grad(op: PoolingForward, ctx: GradContext, x: Tensor, y: Tensor,
                   dy: Tensor) -> Tensor:
    (h, w), (oh, ow) = x.shape[2:], y.shape[2:]
    ph, pw, sh, sw = op.pad_h, op.pad_w, op.stride_h, op.stride_w
    pad = Padding.from_pad_width([(0, 0), (0, 0), (ph, ph), (pw, pw)], padding_val=-np.inf)
    xp = ctx.one(pad, x)
    dxp = ctx.const(0.0, x, xp.shape)
    for i in range(op.window_h):
        for j in range(op.window_w):
            cell = Subtensor(items=((2, i, i + sh * (oh - 1) + 1, sh, None),
                                    (3, j, j + sw * (ow - 1) + 1, sw, None)))
            hit = ctx.ew("EQ", ctx.one(cell, xp), y)
            added = ctx.ew("ADD", ctx.one(cell, dxp), ctx.where(hit, dy))
            dxp = ctx.one(SetSubtensor(items=cell.items), dxp, added)
    crop = Subtensor(items=((2, ph, ph + h, 1, None), (3, pw, pw + w, 1, None)))
    return ctx.one(crop, dxp)


@grad_rule(AdaptivePoolingForward)
def adaptive_pooling_grad(op: AdaptivePoolingForward, ctx: GradContext) -> Grads:
    """The rule of the equivalent fixed-window pooling."""
    return pooling_grad(op.as_pooling(tuple(ctx.inputs[0].shape)), ctx)


__all__ = ["adaptive_pooling_grad", "pooling_grad"]
