"""``Linear``: ``y = x @ weight.T + bias`` with weight ``(out, in)`` and bias ``(out,)``.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> fc = M.Linear(3, 2)
    >>> fc.weight.shape, fc.bias.shape
    ((2, 3), (2,))
    >>> fc(mge.tensor(np.zeros((4, 3), "float32"))).shape
    (4, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from . import init
from .module import Module


class Linear(Module):
    """Fully connected layer over the last axis.

    Args:
        in_features: size of the last input axis.
        out_features: size of the last output axis.
        bias: whether to add a learnable bias.
        compute_mode: ``"default"`` or ``"float32"``, passed to ``F.linear``.

    Raises:
        ValueError: at call time, when the input's last axis is not ``in_features``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        compute_mode: str = "default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(np.zeros((out_features, in_features), dtype=np.float32))
        self.bias = Parameter(np.zeros((out_features,), dtype=np.float32)) if bias else None
        self.compute_mode = compute_mode
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight ~ N(0, 1/in_features); bias = 0."""
        init.normal_(self.weight, 0.0, float(np.sqrt(1 / self.in_features)))
        if self.bias is not None:
            init.zeros_(self.bias)

    def calc_linear(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The affine map with the given weights (fused subclasses reuse it)."""
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self!r}: expected input of shape (..., {self.in_features}), "
                f"got {tuple(x.shape)}"
            )
        return F.linear(x, weight, bias, compute_mode=self.compute_mode)

    def forward(self, x: Tensor) -> Tensor:
        return self.calc_linear(x, self.weight, self.bias)

    def _module_info_string(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class LinearRelu(Linear):
    """``relu(linear(x))`` as one module (same parameters as :class:`Linear`)."""

    def forward(self, inp: Tensor) -> Tensor:
        return F.relu(self.calc_linear(inp, self.weight, self.bias))


__all__ = ["Linear", "LinearRelu"]
