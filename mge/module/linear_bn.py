"""``LinearBn1d`` and ``LinearBnRelu1d``: a Linear followed by BatchNorm1d (and ReLU), as one
module that quantization-aware training folds (MegEngine 1.13).

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> m = M.LinearBn1d(3, 2)
    >>> m.eval()
    >>> m(mge.tensor(np.ones((4, 3), "float32"))).shape
    (4, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from .batchnorm import BatchNorm1d
from .linear import Linear
from .module import Module


class _LinearBnActivation1d(Module):
    """``self.linear`` (Linear) then ``self.bn`` (BatchNorm1d); ``self.bias`` as MegEngine
    (a zero parameter kept for the fused form)."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True,
        compute_mode: str = "default", eps: float = 1e-5, momentum: float = 0.9,
        affine: bool = True, track_running_stats: bool = True, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.out_features = out_features
        self.in_features = in_features
        self.bias = Parameter(np.zeros((out_features,), dtype=np.float32)) if bias else None
        self.linear = Linear(in_features, out_features, bias, compute_mode)
        self.bn = BatchNorm1d(out_features, eps, momentum, affine, track_running_stats)


class LinearBn1d(_LinearBnActivation1d):
    """``bn(linear(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.bn(self.linear(inp))


class LinearBnRelu1d(_LinearBnActivation1d):
    """``relu(bn(linear(x)))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return F.relu(self.bn(self.linear(inp)))


__all__ = ["LinearBn1d", "LinearBnRelu1d"]
