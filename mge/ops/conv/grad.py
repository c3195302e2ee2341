"""Gradient rules of the convolution family.

A convolution is bilinear in its data and filter, and its three ops are the adjoints of
one another: the data gradient is ``ConvolutionBackwardData`` of the output gradient,
the filter gradient is ``ConvolutionBackwardFilter`` of the data and the output
gradient, and the gradients of those two ops are again convolutions. Every format,
mode and grouping the ops accept is differentiated (the kernels handle the layouts).

Example:
    >>> ConvolutionForward.grad_rule is conv_grad
    True
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ...dtype import is_quantize
from ..elemwise import Elemwise
from ..registry import grad_rule
from ..shape import AxisAddRemove, Concat, Dimshuffle, Subtensor
from . import (
    ConvBase,
    ConvBiasForward,
    ConvolutionBackwardData,
    ConvolutionBackwardFilter,
    ConvolutionForward,
)
from .conv3d import Convolution3DBackwardData, Convolution3DForward
from .deformable import (
    DeformableConvBackwardData,
    DeformableConvBackwardFilter,
    DeformableConvForward,
)
from .window import GroupLocal, Images2Neibs, SlidingWindowTranspose

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]


def _params(op: ConvBase) -> dict:
    """The shared ``Convolution`` params of ``op`` (without ``output_hw``)."""
    return {f.name: getattr(op, f.name) for f in dataclasses.fields(ConvBase)}


def _spatial(op: ConvBase, x: Tensor) -> tuple[int, int]:
    shape = tuple(x.shape)
    return shape[2:4] if op.format == "NCHW" else shape[1:3]


@grad_rule(ConvolutionForward)
def conv_grad(op: ConvolutionForward, ctx: GradContext) -> Grads:
    """``d src = BackwardData(filter, dy)``, ``d filter = BackwardFilter(src, dy)``; each
    only when its input wants a gradient (a network's input image usually does not)."""
    x, w = ctx.inputs
    dy = ctx.grad(0)
    back = ConvolutionBackwardData(**_params(op), output_hw=_spatial(op, x))
    return [ctx.one(back, w, dy) if ctx.needs(0) else None,
            ctx.one(ConvolutionBackwardFilter(**_params(op)), x, dy, w) if ctx.needs(1) else None]


@grad_rule(ConvBiasForward)
def conv_bias_grad(op: ConvBiasForward, ctx: GradContext) -> Grads:
    """Float ``ConvBias``: the nonlinearity's gradient (its Elemwise rule, on the
    pre-activation recomputed without it), then the convolution's; ``bias`` gets it summed
    to its shape, ``z`` gets it as is."""
    x, w, *rest = ctx.inputs
    if is_quantize(x.dtype) or op.dtype:
        raise NotImplementedError(f"no gradient rule for quantized {op}")
    dy = ctx.grad(0)
    if op.nonlineMode != "IDENTITY":
        pre = ctx.one(dataclasses.replace(op, nonlineMode="IDENTITY"), *ctx.inputs)
        act = Elemwise(mode=op.nonlineMode)
        dy = type(act).grad_rule(act, type(ctx)((pre,), ctx.outputs, [dy]))[0]
    dx, dw = conv_grad(ConvolutionForward(**_params(op)), type(ctx)((x, w), ctx.outputs, [dy],
                                                                 ctx.needed[:2]))
    return [dx, dw, *(ctx.sum_to(dy, b.shape) for b in rest[:1]), *([dy] if len(rest) > 1 else [])]


@grad_rule(ConvolutionBackwardData)
def conv_backward_data_grad(op: ConvolutionBackwardData, ctx: GradContext) -> Grads:
    """Inputs ``(filter, diff)``: the filter gradient as for the forward convolution whose
    data gradient this op is, and the forward convolution of the output gradient."""
    w, diff = ctx.inputs
    dz = ctx.grad(0)
    dw = ctx.one(ConvolutionBackwardFilter(**_params(op)), dz, diff, w)
    return [dw, ctx.one(ConvolutionForward(**_params(op)), dz, w)]


@grad_rule(ConvolutionBackwardFilter)
def conv_backward_filter_grad(op: ConvolutionBackwardFilter, ctx: GradContext) -> Grads:
    """Inputs ``(src, diff, filter)``: with ``g`` the gradient of the result,
    ``d src = BackwardData(g, diff)``, ``d diff = conv(src, g)``; the filter only gave
    the shape."""
    x, diff, _ = ctx.inputs
    g = ctx.grad(0)
    back = ConvolutionBackwardData(**_params(op), output_hw=_spatial(op, x))
    return [ctx.one(back, g, diff), ctx.one(ConvolutionForward(**_params(op)), x, g), None]


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


@grad_rule(GroupLocal)
def group_local_grad(op: GroupLocal, ctx: GradContext) -> Grads:
    """Per group and output position ``p`` the layer is a matrix product
    ``y_p = windows_p @ filter_p`` (``(N, IC/G*FH*FW) @ (IC/G*FH*FW, OC/G)``), so
    ``d filter_p = windows_p^T @ dy_p`` and ``d windows_p = dy_p @ filter_p^T`` (written
    as broadcast products and sums), the latter summed back into the image by
    ``SlidingWindowTranspose`` (the windows' adjoint)."""
    x, w = ctx.inputs
    n, c, h, wd = x.shape
    groups, oh, ow, icpg, fh, fw, ocpg = w.shape
    blocks, k = groups * oh * ow, icpg * fh * fw
    window = {"pad_h": op.pad_h, "pad_w": op.pad_w, "stride_h": op.stride_h,
              "stride_w": op.stride_w, "window_h": fh, "window_w": fw}
    win = ctx.reshape(ctx.one(Images2Neibs(**window), x), (n, groups, icpg, oh, ow, fh, fw))
    win = ctx.reshape(ctx.one(Dimshuffle(pattern=(1, 3, 4, 0, 2, 5, 6)), win), (blocks, n, k))
    dy = ctx.reshape(ctx.grad(0), (n, groups, ocpg, oh, ow))
    dy = ctx.reshape(ctx.one(Dimshuffle(pattern=(1, 3, 4, 0, 2)), dy), (blocks, n, ocpg))
    filt = ctx.reshape(w, (blocks, 1, k, ocpg))
    # the products as broadcast multiplies and sums (a matmul op would be an ops.nn import)
    dw = ctx.reduce("SUM", ctx.ew("MUL", ctx.reshape(win, (blocks, n, k, 1)),
                                  ctx.reshape(dy, (blocks, n, 1, ocpg))), [1])
    dwin = ctx.reduce("SUM", ctx.ew("MUL", ctx.reshape(dy, (blocks, n, 1, ocpg)), filt), [3])
    dwin = ctx.reshape(dwin, (groups, oh, ow, n, icpg, fh, fw))
    dwin = ctx.reshape(ctx.one(Dimshuffle(pattern=(3, 0, 4, 1, 2, 5, 6)), dwin),
                       (n, c, oh, ow, fh, fw))
    dx = ctx.one(SlidingWindowTranspose(out_h=h, out_w=wd, **window), dwin)
    return [dx, ctx.reshape(dw, w.shape)]


@grad_rule(DeformableConvForward)
def deformable_conv_grad(op: DeformableConvForward, ctx: GradContext) -> Grads:
    """MegEngine's: ``DeformableConvBackwardData`` gives the gradients of the input,
    offset and mask, ``DeformableConvBackwardFilter`` the filter's."""
    params = _params(op)
    args = (*ctx.inputs, ctx.grad(0))
    dx, doffset, dmask = ctx.apply(DeformableConvBackwardData(**params), *args)
    return [dx, ctx.one(DeformableConvBackwardFilter(**params), *args), doffset, dmask]


_SWAP01_3D = Dimshuffle(pattern=(1, 0, 2, 3, 4))


def _filter_grad3d(op: Convolution3DForward | Convolution3DBackwardData, ctx: GradContext,
                   src: Tensor, diff: Tensor, w: Tensor) -> Tensor:
    """``d filter`` of a 3-d cross-correlation, per group (a dilated convolution of the
    input by the output gradient, cropped to the kernel)."""
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


__all__ = ["conv3d_backward_data_grad", "conv3d_grad", "conv_backward_data_grad", "conv_bias_grad",
           "conv_backward_filter_grad", "conv_grad", "deformable_conv_grad", "group_local_grad",
           "images2neibs_grad", "sliding_window_transpose_grad"]
