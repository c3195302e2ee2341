"""``PixelShuffle``: channels to space, ``(..., C * r * r, H, W) -> (..., C, H * r, W * r)``.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> M.PixelShuffle(2)(mge.tensor(np.zeros((1, 8, 3, 3), "float32"))).shape
    (1, 2, 6, 6)
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module


class PixelShuffle(Module):
    """``F.pixel_shuffle(x, upscale_factor)`` as a module."""

    def __init__(self, upscale_factor: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.upscale_factor = upscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(x, self.upscale_factor)


__all__ = ["PixelShuffle"]
