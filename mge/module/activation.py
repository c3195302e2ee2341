"""Activation modules: thin wrappers over the ``F.*`` activations (MegEngine 1.13's set).

Example:
    >>> import mge, mge.module as M
    >>> M.ReLU()(mge.tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from .module import Module


class Softmax(Module):
    """``F.softmax(x, axis)``; ``axis=None`` lets F pick the default axis.

    Example:
        >>> import mge, mge.module as M
        >>> M.Softmax()(mge.tensor([0.0, 0.0])).numpy()
        array([0.5, 0.5], dtype=float32)
    """

    def __init__(self, axis: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def forward(self, inputs: Tensor) -> Tensor:
        return F.softmax(inputs, self.axis)

    def _module_info_string(self) -> str:
        return f"axis={self.axis}"


class Sigmoid(Module):
    """``F.sigmoid(x)``."""

    def forward(self, inputs: Tensor) -> Tensor:
        return F.sigmoid(inputs)


class SiLU(Module):
    """``F.silu(x) = x * sigmoid(x)``."""

    def forward(self, inputs: Tensor) -> Tensor:
        return F.silu(inputs)


class GELU(Module):
    """``F.gelu(x)`` (exact, erf-based)."""

    def forward(self, inputs: Tensor) -> Tensor:
        return F.gelu(inputs)


class ReLU(Module):
    """``F.relu(x) = max(x, 0)``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class ReLU6(Module):
    """``F.relu6(x) = min(max(x, 0), 6)`` (not in MegEngine 1.13's ``M``; added for models
    that use it as a module)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x)


class Hardswish(Module):
    """``F.hswish(x) = x * relu6(x + 3) / 6`` (not in MegEngine 1.13's ``M``)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.hswish(x)


class Hardsigmoid(Module):
    """``F.hsigmoid(x) = relu6(x + 3) / 6`` (not in MegEngine 1.13's ``M``)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.hsigmoid(x)


class PReLU(Module):
    """``max(x, 0) + a * min(x, 0)`` with a learnable ``a`` (``weight``).

    Args:
        num_parameters: 1 (one ``a`` shared by all channels, weight shape ``(1,)``) or the
            number of channels C (weight shape ``(1, C, 1, 1)``, NCHW inputs).
        init: initial value of ``a``.

    Example:
        >>> import mge, mge.module as M
        >>> M.PReLU()(mge.tensor([-2.0, 3.0])).numpy()
        array([-0.5,  3. ], dtype=float32)
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_parameters = num_parameters
        shape = (1, num_parameters, 1, 1) if num_parameters > 1 else (1,)
        self.weight = Parameter(np.full(shape, init, dtype=np.float32))

    def forward(self, inputs: Tensor) -> Tensor:
        return F.prelu(inputs, self.weight)


class LeakyReLU(Module):
    """``max(x, 0) + negative_slope * min(x, 0)``."""

    def __init__(self, negative_slope: float = 0.01, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def forward(self, inputs: Tensor) -> Tensor:
        return F.leaky_relu(inputs, self.negative_slope)


__all__ = ["GELU", "LeakyReLU", "PReLU", "ReLU", "SiLU", "Sigmoid", "Softmax"]
