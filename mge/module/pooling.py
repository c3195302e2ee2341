"""Pooling modules: ``MaxPool2d``, ``AvgPool2d`` and the adaptive forms over NCHW input.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> x = mge.tensor(np.arange(16, dtype="float32").reshape(1, 1, 4, 4))
    >>> M.MaxPool2d(2)(x).numpy().ravel()
    array([ 5.,  7., 13., 15.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module

IntOrPair = int | tuple[int, int]


class _PoolNd(Module):
    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size
        self.padding = padding

    def _module_info_string(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_PoolNd):
    """``F.max_pool2d(x, kernel_size, stride, padding)``; ``stride`` defaults to the kernel."""

    def forward(self, inp: Tensor) -> Tensor:
        return F.max_pool2d(inp, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_PoolNd):
    """``F.avg_pool2d(x, kernel_size, stride, padding, mode)``.

    ``mode`` is ``"average_count_exclude_padding"`` (default) or ``"average"`` (padding
    counted in the divisor).
    """

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        mode: str = "average_count_exclude_padding",
        **kwargs: Any,
    ) -> None:
        super().__init__(kernel_size, stride, padding, **kwargs)
        self.mode = mode

    def forward(self, inp: Tensor) -> Tensor:
        return F.avg_pool2d(inp, self.kernel_size, self.stride, self.padding, self.mode)

    def _module_info_string(self) -> str:
        return super()._module_info_string() + f", mode={self.mode}"


class _AdaptivePoolNd(Module):
    def __init__(self, oshp: IntOrPair, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oshp = oshp


class AdaptiveMaxPool2d(_AdaptivePoolNd):
    """``F.adaptive_max_pool2d(x, oshp)``: max pooling to an output of size ``oshp``."""

    def forward(self, inp: Tensor) -> Tensor:
        return F.adaptive_max_pool2d(inp, self.oshp)


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """``F.adaptive_avg_pool2d(x, oshp)``: average pooling to an output of size ``oshp``.

    Example:
        >>> import numpy as np, mge, mge.module as M
        >>> M.AdaptiveAvgPool2d(1)(mge.tensor(np.ones((2, 3, 5, 5), "float32"))).shape
        (2, 3, 1, 1)
    """

    def forward(self, inp: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(inp, self.oshp)


__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "MaxPool2d"]
