"""Convolution modules: ``Conv2d`` and its fused forms (MegEngine 1.13 layouts and init).

Weights are ``(out, in, kh, kw)``, or ``(groups, out/groups, in/groups, kh, kw)`` for
grouped convolutions; the bias is ``(1, out, 1, 1)``. Weights start as
N(0, 1/fan_in) and biases as zeros, drawn from :mod:`mge.random`.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> conv = M.Conv2d(3, 8, 3, padding=1)
    >>> conv.weight.shape, conv.bias.shape
    ((8, 3, 3, 3), (1, 8, 1, 1))
    >>> conv(mge.tensor(np.zeros((2, 3, 5, 5), "float32"))).shape
    (2, 8, 5, 5)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from . import init
from .batchnorm import BatchNorm2d
from .module import Module

IntOrPair = int | tuple[int, int]
_PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "replicate"}


def _pair(value: IntOrPair, name: str, allow_zero: bool) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(int(v) < (0 if allow_zero else 1) for v in pair):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"Conv2d: {name} must be an int or a pair of ints {bound}, got {value}")
    return int(pair[0]), int(pair[1])


class Conv2d(Module):
    """2D convolution over NCHW input: ``F.conv2d(x, weight, bias, ...)``.

    Args:
        in_channels: input channels C_in.
        out_channels: output channels C_out.
        kernel_size: ``kh`` (= ``kw``) or ``(kh, kw)``.
        stride, padding, dilation: ints or pairs, as in ``F.conv2d``.
        groups: grouped convolution; ``in_channels`` and ``out_channels`` must divide by it.
        bias: whether to add a learnable bias.
        conv_mode: ``"cross_correlation"`` (MegEngine's only mode here).
        compute_mode: ``"default"`` or ``"float32"`` (accumulate float16 in float32).
        padding_mode: ``"zeros"``, ``"reflect"`` or ``"replicate"`` (the latter two pad
            with ``F.nn.pad`` first, then convolve without padding).

    Raises:
        ValueError: channels not divisible by ``groups``, bad sizes, unknown padding mode;
            at call time, an input that is not ``(N, in_channels, H, W)``.

    Example:
        >>> import mge, mge.module as M
        >>> M.Conv2d(4, 4, 3, groups=2).weight.shape
        (2, 2, 2, 3, 3)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair = 0,
        dilation: IntOrPair = 1,
        groups: int = 1,
        bias: bool = True,
        conv_mode: str = "cross_correlation",
        compute_mode: str = "default",
        padding_mode: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"Conv2d: padding_mode must be one of {sorted(_PADDING_MODES)}, "
                f"got {padding_mode!r}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", False)
        self.stride = _pair(stride, "stride", False)
        self.padding = _pair(padding, "padding", True)
        self.dilation = _pair(dilation, "dilation", False)
        self.groups = groups
        self.conv_mode = conv_mode
        self.compute_mode = compute_mode
        self.padding_mode = padding_mode
        self.weight = Parameter(np.zeros(self._infer_weight_shape(), dtype=np.float32))
        self.bias = (
            Parameter(np.zeros((1, out_channels, 1, 1), dtype=np.float32)) if bias else None
        )
        self.reset_parameters()

    def _infer_weight_shape(self) -> tuple[int, ...]:
        kh, kw = self.kernel_size
        ic, oc, g = self.in_channels, self.out_channels, self.groups
        return (oc, ic, kh, kw) if g == 1 else (g, oc // g, ic // g, kh, kw)

    def reset_parameters(self) -> None:
        """Weight ~ N(0, 1/fan_in) with fan_in = in_channels * kh * kw; bias = 0."""
        kh, kw = self.kernel_size
        init.normal_(self.weight, 0.0, float(np.sqrt(1 / (self.in_channels * kh * kw))))
        if self.bias is not None:
            init.zeros_(self.bias)

    def calc_conv(self, inp: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The convolution with the given weights (fused subclasses reuse it)."""
        if inp.ndim != 4 or inp.shape[1] != self.in_channels:
            raise ValueError(
                f"{self!r}: expected input of shape (N, {self.in_channels}, H, W), "
                f"got {tuple(inp.shape)}"
            )
        padding = self.padding
        pad_mode = _PADDING_MODES[self.padding_mode]
        if pad_mode is not None:
            (ph, pw), padding = padding, (0, 0)
            inp = F.nn.pad(inp, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode=pad_mode)
        return F.conv2d(
            inp, weight, bias, self.stride, padding, self.dilation, self.groups,
            self.conv_mode, self.compute_mode,
        )

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv(inp, self.weight, self.bias)

    def _module_info_string(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if self.stride != (1, 1):
            s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvRelu2d(Conv2d):
    """``relu(conv2d(x))`` as one module (same parameters as :class:`Conv2d`)."""

    def forward(self, inp: Tensor) -> Tensor:
        return F.relu(self.calc_conv(inp, self.weight, self.bias))


class _ConvBnActivation2d(Module):
    """A ``Conv2d`` (``self.conv``) followed by a ``BatchNorm2d`` (``self.bn``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair = 0,
        dilation: IntOrPair = 1,
        groups: int = 1,
        bias: bool = True,
        conv_mode: str = "cross_correlation",
        compute_mode: str = "default",
        eps: float = 1e-5,
        momentum: float = 0.9,
        affine: bool = True,
        track_running_stats: bool = True,
        padding_mode: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conv = Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            conv_mode, compute_mode, padding_mode,
        )
        self.bn = BatchNorm2d(out_channels, eps, momentum, affine, track_running_stats)


class ConvBn2d(_ConvBnActivation2d):
    """``bn(conv(x))`` with submodules ``conv`` (Conv2d) and ``bn`` (BatchNorm2d).

    Example:
        >>> import mge.module as M
        >>> sorted(M.ConvBn2d(3, 8, 3).state_dict())[:2]
        ['bn.bias', 'bn.running_mean']
    """

    def forward(self, inp: Tensor) -> Tensor:
        return self.bn(self.conv(inp))


class ConvBnRelu2d(_ConvBnActivation2d):
    """``relu(bn(conv(x)))`` with submodules ``conv`` and ``bn``."""

    def forward(self, inp: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(inp)))


__all__ = ["Conv2d", "ConvBn2d", "ConvBnRelu2d", "ConvRelu2d"]
