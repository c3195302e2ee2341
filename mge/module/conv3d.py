"""3-d convolution modules: ``Conv3d`` and ``ConvTranspose3d`` (MegEngine 1.13 layouts
and init: weights N(0, 1/fan_in) with ``fan_in = in_channels * kd * kh * kw``, biases
``(1, out, 1, 1, 1)`` zeros).

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> m = M.Conv3d(3, 1, 3)
    >>> m(mge.tensor(np.zeros((2, 3, 4, 4, 4), "float32"))).shape
    (2, 1, 2, 2, 2)
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .conv import _ConvNd, _sizes

IntOrTriple = int | tuple[int, int, int]


class _Conv3dBase(_ConvNd):
    """Sizes as triples and MegEngine's 3-d fan-in and bias shape."""

    def __init__(self, owner: str, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any, padding: Any, dilation: Any, groups: int, bias: bool,
                 **kwargs: Any) -> None:
        super().__init__(
            in_channels, out_channels, _sizes(owner, kernel_size, 3, "kernel_size", False),
            _sizes(owner, stride, 3, "stride", False), _sizes(owner, padding, 3, "padding", True),
            _sizes(owner, dilation, 3, "dilation", False), groups, bias, **kwargs,
        )

    def _get_fanin(self) -> int:
        kd, kh, kw = self.kernel_size
        return self.in_channels * kd * kh * kw

    def _infer_bias_shape(self) -> tuple[int, ...]:
        return (1, self.out_channels, 1, 1, 1)


class Conv3d(_Conv3dBase):
    """3D convolution over NCDHW input: ``F.conv3d(x, weight, bias, ...)``.

    Weights are ``(out, in, kd, kh, kw)`` (``(groups, out/groups, in/groups, kd, kh, kw)``
    when grouped). Sizes are ints or ``(d, h, w)`` triples.

    Example:
        >>> M.Conv3d(4, 6, 3, groups=2).weight.shape
        (2, 3, 2, 3, 3, 3)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTriple,
                 stride: IntOrTriple = 1, padding: IntOrTriple = 0, dilation: IntOrTriple = 1,
                 groups: int = 1, bias: bool = True, conv_mode: str = "cross_correlation",
                 **kwargs: Any) -> None:
        self.conv_mode = conv_mode
        super().__init__("Conv3d", in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, **kwargs)

    def _infer_weight_shape(self) -> tuple[int, ...]:
        ic, oc, g = self.in_channels, self.out_channels, self.groups
        return (oc, ic, *self.kernel_size) if g == 1 else (g, oc // g, ic // g,
                                                           *self.kernel_size)

    def calc_conv(self, inp: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        self._check_input(inp, 5)
        return F.conv3d(inp, weight, bias, self.stride, self.padding, self.dilation,
                        self.groups, self.conv_mode)

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv(inp, self.weight, self.bias)


class ConvTranspose3d(_Conv3dBase):
    """3D transposed convolution over NCDHW input: ``F.conv_transpose3d(x, weight, ...)``.

    Weights are ``(in, out, kd, kh, kw)`` (``(groups, in/groups, out/groups, ...)`` when
    grouped); ``output_padding`` (smaller than ``stride``) extends the output's far side.

    Example:
        >>> m = M.ConvTranspose3d(2, 3, 2, stride=2)
        >>> m(mge.tensor(np.zeros((1, 2, 2, 3, 4), "float32"))).shape
        (1, 3, 4, 6, 8)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTriple,
                 stride: IntOrTriple = 1, padding: IntOrTriple = 0,
                 output_padding: IntOrTriple = 0, dilation: IntOrTriple = 1, groups: int = 1,
                 bias: bool = True, **kwargs: Any) -> None:
        extra = _sizes("ConvTranspose3d", output_padding, 3, "output_padding", True)
        super().__init__("ConvTranspose3d", in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias, **kwargs)
        self.output_padding = extra

    def _infer_weight_shape(self) -> tuple[int, ...]:
        ic, oc, g = self.in_channels, self.out_channels, self.groups
        return (ic, oc, *self.kernel_size) if g == 1 else (g, ic // g, oc // g,
                                                           *self.kernel_size)

    def forward(self, inp: Tensor) -> Tensor:
        self._check_input(inp, 5)
        return F.conv_transpose3d(inp, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.dilation, self.groups)
