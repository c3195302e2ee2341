"""Convolution modules: ``Conv1d``, ``Conv2d``, ``DeformableConv2d``, ``LocalConv2d`` and the
fused forms (MegEngine 1.13 layouts and init).

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


def _sizes(owner: str, value: Any, n: int, name: str, allow_zero: bool) -> tuple[int, ...]:
    """An int or ``n`` ints (each >= 0, or >= 1 unless ``allow_zero``) as an ``n``-tuple."""
    sizes = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(sizes) != n or any(int(v) < (0 if allow_zero else 1) for v in sizes):
        bound = ">= 0" if allow_zero else ">= 1"
        what = {1: "an int", 2: "an int or a pair of ints"}.get(n, f"an int or {n} ints")
        raise ValueError(f"{owner}: {name} must be {what} {bound}, got {value}")
    return tuple(int(v) for v in sizes)


def _pair(value: IntOrPair, name: str, allow_zero: bool) -> tuple[int, int]:
    return _sizes("Conv2d", value, 2, name, allow_zero)  # type: ignore[return-value]


class _ConvNd(Module):
    """Channels, sizes, weight and bias of a convolution (MegEngine's ``_ConvNd``).

    Subclasses give the weight and bias shapes and the fan-in of the N(0, 1/fan_in) init.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
        padding: Any, dilation: Any, groups: int, bias: bool = True, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.weight = Parameter(np.zeros(self._infer_weight_shape(), dtype=np.float32))
        self.bias = (
            Parameter(np.zeros(self._infer_bias_shape(), dtype=np.float32)) if bias else None
        )
        self.reset_parameters()

    def _infer_weight_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _infer_bias_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _get_fanin(self) -> int:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Weight ~ N(0, 1/fan_in); bias = 0."""
        init.normal_(self.weight, 0.0, float(np.sqrt(1 / self._get_fanin())))
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input(self, inp: Tensor, ndim: int) -> None:
        if inp.ndim != ndim or inp.shape[1] != self.in_channels:
            spatial = {3: "L", 4: "H, W", 5: "D, H, W"}[ndim]
            raise ValueError(
                f"{self!r}: expected input of shape (N, {self.in_channels}, {spatial}), "
                f"got {tuple(inp.shape)}"
            )

    def _module_info_string(self) -> str:
        def plain(value: Any, fill: int) -> bool:
            return all(v == fill for v in (value if isinstance(value, tuple) else (value,)))

        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if not plain(self.stride, 1):
            s += f", stride={self.stride}"
        if not plain(self.padding, 0):
            s += f", padding={self.padding}"
        if not plain(self.dilation, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


def _padding_mode(owner: str, padding_mode: str) -> str:
    if padding_mode not in _PADDING_MODES:
        raise ValueError(
            f"{owner}: padding_mode must be one of {sorted(_PADDING_MODES)}, "
            f"got {padding_mode!r}"
        )
    return padding_mode


class Conv1d(_ConvNd):
    """1D convolution over NCL input: ``F.conv1d(x, weight, bias, ...)``.

    Weights are ``(out, in, k)`` (``(groups, out/groups, in/groups, k)`` when grouped) and
    the bias ``(1, out, 1)``. ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are
    ints; the other arguments are those of :class:`Conv2d`.

    Example:
        >>> import numpy as np, mge, mge.module as M
        >>> conv = M.Conv1d(2, 3, 5, padding=2)
        >>> conv.weight.shape, conv(mge.tensor(np.zeros((1, 2, 8), "float32"))).shape
        ((3, 2, 5), (1, 3, 8))
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
        padding: int = 0, dilation: int = 1, groups: int = 1, bias: bool = True,
        conv_mode: str = "cross_correlation", compute_mode: str = "default",
        padding_mode: str = "zeros", **kwargs: Any,
    ) -> None:
        for name, value, zero in (("kernel_size", kernel_size, False), ("stride", stride, False),
                                  ("padding", padding, True), ("dilation", dilation, False)):
            _sizes("Conv1d", value, 1, name, zero)
        self.conv_mode = conv_mode
        self.compute_mode = compute_mode
        self.padding_mode = _padding_mode("Conv1d", padding_mode)
        super().__init__(in_channels, out_channels, int(kernel_size), int(stride),
                         int(padding), int(dilation), groups, bias, **kwargs)

    def _get_fanin(self) -> int:
        return self.kernel_size * self.in_channels

    def _infer_weight_shape(self) -> tuple[int, ...]:
        ic, oc, g, k = self.in_channels, self.out_channels, self.groups, self.kernel_size
        return (oc, ic, k) if g == 1 else (g, oc // g, ic // g, k)

    def _infer_bias_shape(self) -> tuple[int, ...]:
        return (1, self.out_channels, 1)

    def calc_conv(self, inp: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The convolution with the given weights."""
        self._check_input(inp, 3)
        padding, pad_mode = self.padding, _PADDING_MODES[self.padding_mode]
        if pad_mode is not None:
            inp = F.nn.pad(inp, ((0, 0), (0, 0), (padding, padding)), mode=pad_mode)
            padding = 0
        return F.conv1d(inp, weight, bias, self.stride, padding, self.dilation, self.groups,
                        self.conv_mode, self.compute_mode)

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv(inp, self.weight, self.bias)


class Conv2d(_ConvNd):
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
        self.conv_mode = conv_mode
        self.compute_mode = compute_mode
        self.padding_mode = _padding_mode("Conv2d", padding_mode)
        super().__init__(
            in_channels, out_channels, _pair(kernel_size, "kernel_size", False),
            _pair(stride, "stride", False), _pair(padding, "padding", True),
            _pair(dilation, "dilation", False), groups, bias, **kwargs,
        )

    def _infer_weight_shape(self) -> tuple[int, ...]:
        kh, kw = self.kernel_size
        ic, oc, g = self.in_channels, self.out_channels, self.groups
        return (oc, ic, kh, kw) if g == 1 else (g, oc // g, ic // g, kh, kw)

    def _infer_bias_shape(self) -> tuple[int, ...]:
        return (1, self.out_channels, 1, 1)

    def _get_fanin(self) -> int:
        kh, kw = self.kernel_size
        return self.in_channels * kh * kw

    def calc_conv(self, inp: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The convolution with the given weights (fused subclasses reuse it)."""
        self._check_input(inp, 4)
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


class LocalConv2d(Conv2d):
    """Locally connected layer over NCHW input (untied filters): ``F.local_conv2d``.

    The weight is ``(groups, OH, OW, in/groups, kh, kw, out/groups)`` for inputs of
    ``input_height x input_width``; there is no bias (MegEngine's choice).

    Example:
        >>> import numpy as np, mge, mge.module as M
        >>> m = M.LocalConv2d(4, 8, 6, 6, 3, padding=1, groups=2)
        >>> m.weight.shape, m(mge.tensor(np.zeros((1, 4, 6, 6), "float32"))).shape
        ((2, 6, 6, 2, 3, 3, 4), (1, 8, 6, 6))
    """

    def __init__(
        self, in_channels: int, out_channels: int, input_height: int, input_width: int,
        kernel_size: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0,
        dilation: IntOrPair = 1, groups: int = 1, conv_mode: str = "cross_correlation",
        **kwargs: Any,
    ) -> None:
        self.input_height = input_height
        self.input_width = input_width
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias=False, conv_mode=conv_mode, **kwargs)

    def _infer_weight_shape(self) -> tuple[int, ...]:
        (kh, kw), (sh, sw), (ph, pw), g = self.kernel_size, self.stride, self.padding, self.groups
        oh = (self.input_height + 2 * ph - kh) // sh + 1
        ow = (self.input_width + 2 * pw - kw) // sw + 1
        return (g, oh, ow, self.in_channels // g, kh, kw, self.out_channels // g)

    def forward(self, inp: Tensor) -> Tensor:
        self._check_input(inp, 4)
        return F.local_conv2d(inp, self.weight, None, self.stride, self.padding,
                              self.dilation, self.conv_mode)


class DeformableConv2d(Conv2d):
    """Deformable 2D convolution: ``F.deformable_conv2d(x, weight, offset, mask, bias)``;
    weights, bias and init as :class:`Conv2d` (zero padding only).

    Example:
        >>> m = M.DeformableConv2d(2, 4, 3, padding=1)
        >>> x, off, mask = F.ones((1, 2, 5, 5)), F.zeros((1, 18, 5, 5)), F.ones((1, 9, 5, 5))
        >>> m(x, off, mask).shape
        (1, 4, 5, 5)
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
        stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1,
        groups: int = 1, bias: bool = True, conv_mode: str = "cross_correlation",
        compute_mode: str = "default", **kwargs: Any,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, conv_mode, compute_mode, **kwargs)

    def calc_conv(self, inp: Tensor, weight: Tensor, offset: Tensor, mask: Tensor,  # type: ignore[override]
                  bias: Tensor | None) -> Tensor:
        self._check_input(inp, 4)
        return F.deformable_conv2d(inp, weight, offset, mask, bias, self.stride, self.padding,
                                   self.dilation, self.groups, self.conv_mode,
                                   self.compute_mode)

    def forward(self, inp: Tensor, offset: Tensor, mask: Tensor) -> Tensor:  # type: ignore[override]
        return self.calc_conv(inp, self.weight, offset, mask, self.bias)


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


__all__ = ["Conv1d", "Conv2d", "ConvBn2d", "ConvBnRelu2d", "ConvRelu2d"]
