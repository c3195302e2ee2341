"""torch kernels: ``ConvolutionForward`` and ``ConvBiasForward`` via ``torch.nn.functional``."""

from __future__ import annotations

import torch
import torch.nn.functional as tF

from ...ops.conv import ConvBase, ConvBiasForward, ConvolutionForward
from . import BACKEND
from .elemwise import ELEMWISE

NONLINE = {"IDENTITY": lambda x: x, "RELU": ELEMWISE["RELU"], "SIGMOID": ELEMWISE["SIGMOID"],
           "H_SWISH": ELEMWISE["H_SWISH"]}


def _conv_nchw(op: ConvBase, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The convolution of NCHW ``x`` (any format's filter), without bias."""
    if op.sparse == "DENSE":
        w = w.unsqueeze(0)
    if op.format == "NHWC":
        w = w.permute(0, 1, 4, 2, 3)
    groups, ocpg, icpg, kh, kw = w.shape
    w = w.reshape(groups * ocpg, icpg, kh, kw)
    if op.mode == "CONVOLUTION":
        w = w.flip((-2, -1))
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
