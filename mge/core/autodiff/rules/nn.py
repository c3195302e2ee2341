"""Gradient rules of the network families: matrix products, softmax, batch norm,
convolutions and pooling.

The filter gradient of a convolution is itself a convolution (of the input with the
output gradient, batch and channel axes swapped, stride and dilation exchanged);
pooling gradients are a transposed convolution (average) or per-window-cell masks
(max, the first maximum of each window wins as in MegEngine and PyTorch).

Example:
    >>> from mge.ops.conv import ConvolutionForward
    >>> ConvolutionForward.grad_rule is conv_grad
    True
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ....ops.conv import ConvolutionBackwardData, ConvolutionForward
from ....ops.nn import BatchedMatrixMul, BatchNormForward, MatrixMul, SoftmaxForward
from ....ops.pooling import AdaptivePoolingForward, PoolingForward
from ....ops.shape import AxisAddRemove, Concat, Dimshuffle, Padding, SetSubtensor, Subtensor
from ...tensor.base import Tensor
from ..context import GradContext

Grads = list["Tensor | None"]
_SWAP01 = Dimshuffle(pattern=(1, 0, 2, 3))


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


def softmax_grad(op: SoftmaxForward, ctx: GradContext) -> Grads:
    """``y * (dy - sum(dy * y))`` along the axis."""
    y, dy = ctx.outputs[0], ctx.grad(0)
    total = ctx.reduce("SUM", ctx.ew("MUL", dy, y), [op.axis % y.ndim])
    return [ctx.ew("MUL", y, ctx.ew("SUB", dy, total))]


def batch_norm_grad(op: BatchNormForward, ctx: GradContext) -> Grads:
    """Gradients of ``x``, ``scale`` and ``bias`` from the gradient of ``y`` (output 5);
    training differentiates through the batch statistics, the running ones get none."""
    x, scale = ctx.inputs[0], ctx.inputs[1]
    mean, inv = ctx.outputs[2], ctx.outputs[3]
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
    return [ctx.reshape(dx, x.shape), dscale, dbias, *([None] * (len(ctx.inputs) - 3))]


def _filter_grad(op: ConvolutionForward | ConvolutionBackwardData, ctx: GradContext,
                 src: Tensor, diff: Tensor, kernel: tuple[int, int]) -> Tensor:
    """``d filter`` of a dense NCHW cross-correlation with input ``src`` and output
    gradient ``diff``: a convolution of ``src^T`` by ``diff^T``, cropped to the kernel."""
    probe = ConvolutionForward(pad_h=op.pad_h, pad_w=op.pad_w, stride_h=op.dilate_h,
                               stride_w=op.dilate_w, dilate_h=op.stride_h,
                               dilate_w=op.stride_w, compute_mode=op.compute_mode)
    full = ctx.one(probe, ctx.one(_SWAP01, src), ctx.one(_SWAP01, diff))
    crop = Subtensor(items=((2, 0, kernel[0], 1, None), (3, 0, kernel[1], 1, None)))
    return ctx.one(_SWAP01, ctx.one(crop, full))


def _conv_filter_grad(op: ConvolutionForward | ConvolutionBackwardData, ctx: GradContext,
                      src: Tensor, diff: Tensor, w: Tensor) -> Tensor:
    """The filter gradient for dense or grouped filters (one dense gradient per group)."""
    kernel = tuple(w.shape[-2:])
    if op.sparse == "DENSE":
        return _filter_grad(op, ctx, src, diff, kernel)
    groups, ocpg, icpg = w.shape[:3]
    parts = []
    for g in range(groups):
        s = ctx.one(Subtensor(items=((1, g * icpg, (g + 1) * icpg, 1, None),)), src)
        d = ctx.one(Subtensor(items=((1, g * ocpg, (g + 1) * ocpg, 1, None),)), diff)
        part = _filter_grad(op, ctx, s, d, kernel)
        parts.append(ctx.one(AxisAddRemove(desc=(("ADD_1", 0),)), part))
    return parts[0] if groups == 1 else ctx.one(Concat(axis=0), *parts)


def _check_layout(op: ConvolutionForward | ConvolutionBackwardData) -> None:
    if op.format != "NCHW" or op.mode != "CROSS_CORRELATION":
        raise NotImplementedError(f"no gradient rule for {op} (NCHW cross-correlation only)")


def conv_grad(op: ConvolutionForward, ctx: GradContext) -> Grads:
    """Input: the transposed convolution of the gradient; filter: see ``_filter_grad``."""
    _check_layout(op)
    x, w = ctx.inputs
    dy = ctx.grad(0)
    params = {f.name: getattr(op, f.name) for f in dataclasses.fields(op)}
    back = ConvolutionBackwardData(**params, output_hw=tuple(x.shape[2:]))
    return [ctx.one(back, w, dy), _conv_filter_grad(op, ctx, x, dy, w)]


def conv_backward_data_grad(op: ConvolutionBackwardData, ctx: GradContext) -> Grads:
    """Inputs ``(filter, diff)``: the filter gradient as for the forward convolution whose
    input gradient this op is, and the forward convolution of the output gradient."""
    _check_layout(op)
    w, diff = ctx.inputs
    dz = ctx.grad(0)
    params = {f.name: getattr(op, f.name) for f in dataclasses.fields(op) if f.name != "output_hw"}
    ddiff = ctx.one(ConvolutionForward(**params), dz, w)
    return [_conv_filter_grad(op, ctx, dz, diff, w), ddiff]


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


def pooling_grad(op: PoolingForward, ctx: GradContext) -> Grads:
    """Average: each window's share spread back by a transposed convolution of ones;
    max: the gradient goes to the first maximum of each window."""
    if op.format != "NCHW":
        raise NotImplementedError(f"no gradient rule for {op} (NCHW only)")
    x, y, dy = ctx.inputs[0], ctx.outputs[0], ctx.grad(0)
    n, c, h, w = x.shape
    out = tuple(y.shape[2:])
    if op.mode == "MAX":
        return [_max_pool_grad(op, ctx, x, y, dy)]
    share = ctx.ew("TRUE_DIV", dy, ctx.const(_average_counts(op, (h, w), out), dy, out))
    ones = ctx.const(1.0, dy, (c, 1, 1, op.window_h, op.window_w))
    spread = ConvolutionBackwardData(pad_h=op.pad_h, pad_w=op.pad_w, stride_h=op.stride_h,
                                     stride_w=op.stride_w, sparse="GROUP", output_hw=(h, w))
    return [ctx.one(spread, ones, share)]


def _max_pool_grad(op: PoolingForward, ctx: GradContext, x: Tensor, y: Tensor,
                   dy: Tensor) -> Tensor:
    (h, w), (oh, ow) = x.shape[2:], y.shape[2:]
    ph, pw, sh, sw = op.pad_h, op.pad_w, op.stride_h, op.stride_w
    pad = Padding.from_pad_width([(0, 0), (0, 0), (ph, ph), (pw, pw)], padding_val=-np.inf)
    xp = ctx.one(pad, x)
    dxp = ctx.const(0.0, x, xp.shape)
    taken = None
    for i in range(op.window_h):
        for j in range(op.window_w):
            cell = Subtensor(items=((2, i, i + sh * (oh - 1) + 1, sh, None),
                                    (3, j, j + sw * (ow - 1) + 1, sw, None)))
            hit = ctx.ew("EQ", ctx.one(cell, xp), y)
            if taken is not None:
                hit = ctx.ew("AND", hit, ctx.ew("NOT", taken))
            taken = hit if taken is None else ctx.ew("OR", taken, hit)
            added = ctx.ew("ADD", ctx.one(cell, dxp), ctx.where(hit, dy))
            dxp = ctx.one(SetSubtensor(items=cell.items), dxp, added)
    crop = Subtensor(items=((2, ph, ph + h, 1, None), (3, pw, pw + w, 1, None)))
    return ctx.one(crop, dxp)


def adaptive_pooling_grad(op: AdaptivePoolingForward, ctx: GradContext) -> Grads:
    """The rule of the equivalent fixed-window pooling."""
    if op.format != "NCHW":
        raise NotImplementedError(f"no gradient rule for {op} (NCHW only)")
    return pooling_grad(op.as_pooling(tuple(ctx.inputs[0].shape[2:])), ctx)


MatrixMul.grad_rule = matmul_grad
BatchedMatrixMul.grad_rule = matmul_grad
SoftmaxForward.grad_rule = softmax_grad
BatchNormForward.grad_rule = batch_norm_grad
ConvolutionForward.grad_rule = conv_grad
ConvolutionBackwardData.grad_rule = conv_backward_data_grad
PoolingForward.grad_rule = pooling_grad
AdaptivePoolingForward.grad_rule = adaptive_pooling_grad

__all__ = ["adaptive_pooling_grad", "batch_norm_grad", "conv_backward_data_grad", "conv_grad",
           "matmul_grad", "pooling_grad", "softmax_grad"]
