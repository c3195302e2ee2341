"""Gradient rules of the convolution family.

The input gradient of a convolution is the transposed convolution of the output
gradient; the filter gradient is itself a convolution (of the input with the output
gradient, batch and channel axes swapped, stride and dilation exchanged, cropped to the
kernel), one per group for grouped filters. NCHW cross-correlation only.

Example:
    >>> ConvolutionForward.grad_rule is conv_grad
    True
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..registry import grad_rule
from ..shape import AxisAddRemove, Concat, Dimshuffle, Subtensor
from . import ConvolutionBackwardData, ConvolutionForward
from .conv3d import Convolution3DBackwardData, Convolution3DForward
from .window import Images2Neibs, SlidingWindowTranspose

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]
_SWAP01 = Dimshuffle(pattern=(1, 0, 2, 3))


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


@grad_rule(ConvolutionForward)
def conv_grad(op: ConvolutionForward, ctx: GradContext) -> Grads:
    """Input: the transposed convolution of the gradient; filter: see ``_filter_grad``."""
    _check_layout(op)
    x, w = ctx.inputs
    dy = ctx.grad(0)
    params = {f.name: getattr(op, f.name) for f in dataclasses.fields(op)}
    back = ConvolutionBackwardData(**params, output_hw=tuple(x.shape[2:]))
    return [ctx.one(back, w, dy), _conv_filter_grad(op, ctx, x, dy, w)]


@grad_rule(ConvolutionBackwardData)
def conv_backward_data_grad(op: ConvolutionBackwardData, ctx: GradContext) -> Grads:
    """Inputs ``(filter, diff)``: the filter gradient as for the forward convolution whose
    input gradient this op is, and the forward convolution of the output gradient."""
    _check_layout(op)
    w, diff = ctx.inputs
    dz = ctx.grad(0)
    params = {f.name: getattr(op, f.name) for f in dataclasses.fields(op) if f.name != "output_hw"}
    ddiff = ctx.one(ConvolutionForward(**params), dz, w)
    return [_conv_filter_grad(op, ctx, dz, diff, w), ddiff]


def _window_params(op: Images2Neibs | SlidingWindowTranspose) -> dict[str, int]:
    names = ("pad_h", "pad_w", "stride_h", "stride_w", "dilate_h", "dilate_w", "window_h",
             "window_w")
    return {name: getattr(op, name) for name in names}


@grad_rule(Images2Neibs)
def images2neibs_grad(op: Images2Neibs, ctx: GradContext) -> Grads:
    """The windows' gradients summed back into the image (its adjoint)."""
    h, w = ctx.inputs[0].shape[2:]
    return [ctx.one(SlidingWindowTranspose(out_h=h, out_w=w, **_window_params(op)),
                    ctx.grad(0))]


@grad_rule(SlidingWindowTranspose)
def sliding_window_transpose_grad(op: SlidingWindowTranspose, ctx: GradContext) -> Grads:
    """The image gradient read back at every window position (its adjoint)."""
    return [ctx.one(Images2Neibs(**_window_params(op)), ctx.grad(0))]





_SWAP01_3D = Dimshuffle(pattern=(1, 0, 2, 3, 4))


def _filter_grad3d(op: Convolution3DForward | Convolution3DBackwardData, ctx: GradContext,
                   src: Tensor, diff: Tensor, w: Tensor) -> Tensor:
    """``d filter`` of a 3-d cross-correlation (``_filter_grad`` in three dims), per group."""
    kernel = tuple(w.shape[-3:])
    probe = Convolution3DForward(pad_d=op.pad_d, pad_h=op.pad_h, pad_w=op.pad_w,
                                 stride_d=op.dilate_d, stride_h=op.dilate_h,
                                 stride_w=op.dilate_w, dilate_d=op.stride_d,
                                 dilate_h=op.stride_h, dilate_w=op.stride_w)
    crop = Subtensor(items=tuple((2 + k, 0, kernel[k], 1, None) for k in range(3)))
    groups = w.shape[0] if op.sparse == "GROUP" else 1
    icpg, ocpg = src.shape[1] // groups, diff.shape[1] // groups
    parts = []
    for g in range(groups):
        s = ctx.one(Subtensor(items=((1, g * icpg, (g + 1) * icpg, 1, None),)), src) \
            if groups > 1 else src
        d = ctx.one(Subtensor(items=((1, g * ocpg, (g + 1) * ocpg, 1, None),)), diff) \
            if groups > 1 else diff
        full = ctx.one(probe, ctx.one(_SWAP01_3D, s), ctx.one(_SWAP01_3D, d))
        parts.append(ctx.one(_SWAP01_3D, ctx.one(crop, full)))
    if groups == 1:
        return parts[0]
    return ctx.one(Concat(axis=0), *[ctx.one(AxisAddRemove(desc=(("ADD_1", 0),)), p)
                                     for p in parts])


def _check_3d(op: Convolution3DForward | Convolution3DBackwardData) -> None:
    if op.mode != "CROSS_CORRELATION":
        raise NotImplementedError(f"no gradient rule for {op} (cross-correlation only)")


@grad_rule(Convolution3DForward)
def conv3d_grad(op: Convolution3DForward, ctx: GradContext) -> Grads:
    """Input: the transposed 3-d convolution of the gradient; filter: ``_filter_grad3d``."""
    _check_3d(op)
    x, w = ctx.inputs
    dy = ctx.grad(0)
    back = Convolution3DBackwardData(**op.params(), output_dhw=tuple(x.shape[2:]))
    return [ctx.one(back, w, dy), _filter_grad3d(op, ctx, x, dy, w)]


@grad_rule(Convolution3DBackwardData)
def conv3d_backward_data_grad(op: Convolution3DBackwardData, ctx: GradContext) -> Grads:
    """Inputs ``(filter, diff)``: the filter gradient of the forward convolution whose input
    gradient this op is, and the forward 3-d convolution of the output gradient."""
    _check_3d(op)
    w, diff = ctx.inputs
    dz = ctx.grad(0)
    params = {k: v for k, v in op.params().items() if k != "output_dhw"}
    return [_filter_grad3d(op, ctx, dz, diff, w), ctx.one(Convolution3DForward(**params), dz, w)]


__all__ = ["conv3d_backward_data_grad", "conv3d_grad", "conv_backward_data_grad", "conv_grad",
           "images2neibs_grad", "sliding_window_transpose_grad"]
