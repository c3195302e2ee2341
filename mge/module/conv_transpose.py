"""Transposed convolution modules: ``ConvTranspose2d`` and its fused forms (MegEngine 1.13).

Weights are ``(in, out, kh, kw)``, or ``(groups, in/groups, out/groups, kh, kw)`` when
grouped; the bias is ``(1, out, 1, 1)``. Weights start as N(0, 1/fan_in) with
``fan_in = out * kh * kw`` (MegEngine's choice) and biases as zeros.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> up = M.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    >>> up.weight.shape, up(mge.tensor(np.zeros((1, 4, 5, 5), "float32"))).shape
    ((4, 2, 3, 3), (1, 2, 10, 10))
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .batchnorm import BatchNorm2d
from .conv import IntOrPair, _ConvNd, _sizes
from .module import Module


def _pair(value: IntOrPair, name: str, allow_zero: bool) -> tuple[int, int]:
    return _sizes("ConvTranspose2d", value, 2, name, allow_zero)  # type: ignore[return-value]


class ConvTranspose2d(_ConvNd):
    """2D transposed convolution over NCHW input: ``F.conv_transpose2d(x, weight, ...)``.

    Args:
        in_channels, out_channels: C_in and C_out.
        kernel_size, stride, padding, dilation: ints or pairs.
        output_padding: extra rows/columns on one side of the output (smaller than stride).
        groups, bias, conv_mode, compute_mode: as in :class:`Conv2d`.

    Raises:
        ValueError: channels not divisible by ``groups`` or bad sizes; at call time, an
            input that is not ``(N, in_channels, H, W)``.

    Example:
        >>> M.ConvTranspose2d(4, 6, 3, groups=2).weight.shape
        (2, 2, 3, 3, 3)
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
        stride: IntOrPair = 1, padding: IntOrPair = 0, output_padding: IntOrPair = 0,
        dilation: IntOrPair = 1, groups: int = 1, bias: bool = True,
        conv_mode: str = "cross_correlation", compute_mode: str = "default", **kwargs: Any,
    ) -> None:
        self.conv_mode = conv_mode
        self.compute_mode = compute_mode
        extra = _pair(output_padding, "output_padding", True)
        super().__init__(
            in_channels, out_channels, _pair(kernel_size, "kernel_size", False),
            _pair(stride, "stride", False), _pair(padding, "padding", True),
            _pair(dilation, "dilation", False), groups, bias, **kwargs,
        )
        self.output_padding = extra

    def _get_fanin(self) -> int:
        kh, kw = self.kernel_size
        return kh * kw * self.out_channels

    def _infer_weight_shape(self) -> tuple[int, ...]:
        kh, kw = self.kernel_size
        ic, oc, g = self.in_channels, self.out_channels, self.groups
        return (ic, oc, kh, kw) if g == 1 else (g, ic // g, oc // g, kh, kw)

    def _infer_bias_shape(self) -> tuple[int, ...]:
        return (1, self.out_channels, 1, 1)

    def calc_conv_transpose2d(self, inp: Tensor, weight: Tensor, bias: Tensor | None
                              ) -> Tensor:
        """The transposed convolution with the given weights (fused subclasses reuse it)."""
        self._check_input(inp, 4)
        return F.conv_transpose2d(
            inp, weight, bias, self.stride, self.padding, self.output_padding, self.dilation,
            self.groups, self.conv_mode, self.compute_mode,
        )

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv_transpose2d(inp, self.weight, self.bias)


class ConvTransposeRelu2d(ConvTranspose2d):
    """``relu(conv_transpose2d(x))`` as one module (parameters of :class:`ConvTranspose2d`)."""

    def forward(self, inp: Tensor) -> Tensor:
        return F.relu(self.calc_conv_transpose2d(inp, self.weight, self.bias))


class _ConvTransposeBnActivation2d(Module):
    """A ``ConvTranspose2d`` (``self.conv_transpose2d``) followed by a ``BatchNorm2d``."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
        stride: IntOrPair = 1, padding: IntOrPair = 0, output_padding: IntOrPair = 0,
        dilation: IntOrPair = 1, groups: int = 1, bias: bool = True,
        conv_mode: str = "cross_correlation", compute_mode: str = "default",
        eps: float = 1e-5, momentum: float = 0.9, affine: bool = True,
        track_running_stats: bool = True, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conv_transpose2d = ConvTranspose2d(
            in_channels, out_channels, kernel_size, stride, padding, output_padding, dilation,
            groups, bias, conv_mode, compute_mode,
        )
        self.bn = BatchNorm2d(out_channels, eps, momentum, affine, track_running_stats)


class ConvTransposeBn2d(_ConvTransposeBnActivation2d):
    """``bn(conv_transpose2d(x))`` with submodules ``conv_transpose2d`` and ``bn``.

    Example:
        >>> sorted(M.ConvTransposeBn2d(3, 8, 3).state_dict())[-2:]
        ['conv_transpose2d.bias', 'conv_transpose2d.weight']
    """

    def forward(self, inp: Tensor) -> Tensor:
        return self.bn(self.conv_transpose2d(inp))


class ConvTransposeBnRelu2d(_ConvTransposeBnActivation2d):
    """``relu(bn(conv_transpose2d(x)))`` with submodules ``conv_transpose2d`` and ``bn``."""

    def forward(self, inp: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv_transpose2d(inp)))


__all__ = ["ConvTranspose2d", "ConvTransposeBn2d", "ConvTransposeBnRelu2d", "ConvTransposeRelu2d"]
