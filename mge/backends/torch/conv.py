"""torch kernels: the convolution ops via ``torch.nn.functional`` (conv2d, conv_transpose2d)."""

from __future__ import annotations

import torch
import torch.nn.functional as tF

from ...ops.conv import ConvBase, ConvBiasForward, ConvolutionBackwardData, ConvolutionForward
from . import BACKEND
from .elemwise import ELEMWISE

NONLINE = {"IDENTITY": lambda x: x, "RELU": ELEMWISE["RELU"], "SIGMOID": ELEMWISE["SIGMOID"],
           "H_SWISH": ELEMWISE["H_SWISH"]}


def _nchw_filter(op: ConvBase, w: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The filter as ``(groups * oc/g, ic/g, KH, KW)`` (flipped for ``CONVOLUTION``), groups."""
    if op.sparse == "DENSE":
        w = w.unsqueeze(0)
    if op.format == "NHWC":
        w = w.permute(0, 1, 4, 2, 3)
    groups, ocpg, icpg, kh, kw = w.shape
    w = w.reshape(groups * ocpg, icpg, kh, kw)
    return (w.flip((-2, -1)) if op.mode == "CONVOLUTION" else w), groups


def _conv_nchw(op: ConvBase, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The convolution of NCHW ``x`` (any format's filter), without bias."""
    w, groups = _nchw_filter(op, w)
    return tF.conv2d(x, w, None, (op.stride_h, op.stride_w), (op.pad_h, op.pad_w),
                     (op.dilate_h, op.dilate_w), groups)


def _to_nchw(op: ConvBase, x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2) if op.format == "NHWC" else x


def _from_nchw(op: ConvBase, y: torch.Tensor) -> torch.Tensor:
    return y.permute(0, 2, 3, 1).contiguous() if op.format == "NHWC" else y


@BACKEND.kernel(ConvolutionForward.type_name)
def convolution(op: ConvolutionForward, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return _from_nchw(op, _conv_nchw(op, _to_nchw(op, x), w))


@BACKEND.kernel(ConvBiasForward.type_name)
def conv_bias(
    op: ConvBiasForward, x: torch.Tensor, w: torch.Tensor, *extra: torch.Tensor
) -> torch.Tensor:
    out = _conv_nchw(op, _to_nchw(op, x), w)
    for term in extra:
        out = out + _to_nchw(op, term)
    return _from_nchw(op, NONLINE[op.nonlineMode](out))


@BACKEND.kernel(ConvolutionBackwardData.type_name)
def convolution_backward_data(
    op: ConvolutionBackwardData, w: torch.Tensor, diff: torch.Tensor
) -> torch.Tensor:
    w, groups = _nchw_filter(op, w)
    diff = _to_nchw(op, diff)
    stride, dilate = (op.stride_h, op.stride_w), (op.dilate_h, op.dilate_w)
    pad = (op.pad_h, op.pad_w)
    out_hw = op.out_hw(diff.shape[2:], w.shape[2:])
    extra = tuple(o - ((d - 1) * s + (k - 1) * dl + 1 - 2 * p) for o, d, k, s, dl, p in zip(
        out_hw, diff.shape[2:], w.shape[2:], stride, dilate, pad, strict=True))
    out = tF.conv_transpose2d(diff, w, None, stride, pad, extra, groups, dilate)
    return _from_nchw(op, out)
