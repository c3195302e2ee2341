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

from ..registry import grad_rule
from . import ConvBase, ConvolutionBackwardData, ConvolutionBackwardFilter, ConvolutionForward

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
    """``d src = BackwardData(filter, dy)``, ``d filter = BackwardFilter(src, dy)``."""
    x, w = ctx.inputs
    dy = ctx.grad(0)
    back = ConvolutionBackwardData(**_params(op), output_hw=_spatial(op, x))
    return [ctx.one(back, w, dy), ctx.one(ConvolutionBackwardFilter(**_params(op)), x, dy, w)]


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


__all__ = ["conv_backward_data_grad", "conv_backward_filter_grad", "conv_grad"]
