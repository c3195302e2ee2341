"""``SlidingWindow`` and ``SlidingWindowTranspose`` modules (``F.sliding_window`` and
``F.sliding_window_transpose`` with stored sizes).

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> M.SlidingWindow(3, padding=1)(mge.tensor(np.zeros((1, 2, 4, 4), "float32"))).shape
    (1, 2, 4, 4, 3, 3)
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module

IntOrPair = int | tuple[int, int]


class SlidingWindow(Module):
    """Every ``kernel_size`` window of an NCHW input as ``(N, C, OH, OW, KH, KW)``.

    Example:
        >>> M.SlidingWindow(2, stride=2)(mge.tensor(np.zeros((1, 1, 4, 6), "float32"))).shape
        (1, 1, 2, 3, 2, 2)
    """

    def __init__(self, kernel_size: IntOrPair, padding: IntOrPair = 0, stride: IntOrPair = 1,
                 dilation: IntOrPair = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.padding = padding
        self.stride = stride
        self.dilation = dilation

    def forward(self, inp: Tensor) -> Tensor:
        return F.sliding_window(inp, self.kernel_size, self.padding, self.stride,
                                self.dilation)


class SlidingWindowTranspose(Module):
    """Sum ``(N, C, OH, OW, KH, KW)`` windows back into an ``output_size`` image.

    Example:
        >>> m = M.SlidingWindowTranspose((4, 6), 2, stride=2)
        >>> m(mge.tensor(np.zeros((1, 1, 2, 3, 2, 2), "float32"))).shape
        (1, 1, 4, 6)
    """

    def __init__(self, output_size: IntOrPair, kernel_size: IntOrPair, padding: IntOrPair = 0,
                 stride: IntOrPair = 1, dilation: IntOrPair = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.padding = padding
        self.stride = stride
        self.dilation = dilation

    def forward(self, inp: Tensor) -> Tensor:
        return F.sliding_window_transpose(inp, self.output_size, self.kernel_size,
                                          self.padding, self.stride, self.dilation)
