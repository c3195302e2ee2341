"""``BatchMatMulActivation``: ``act(weight @ x + bias)`` for a batch of weight matrices.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> m = M.BatchMatMulActivation(2, 3, 4, nonlinear_mode="relu")
    >>> m(mge.tensor(np.ones((2, 3, 5), "float32"))).shape
    (2, 4, 5)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from . import init
from .module import Module


class BatchMatMulActivation(Module):
    """Batched ``matmul(weight, x)`` plus bias, then ``relu`` or nothing (no transposes).

    Args:
        batch: number of weight matrices (weight ``(batch, out_features, in_features)``).
        in_features, out_features: matrix sizes.
        bias: add a bias of shape ``(out_features,)``.
        nonlinear_mode: ``"identity"`` or ``"relu"``.

    Raises:
        ValueError: another ``nonlinear_mode``.
    """

    def __init__(
        self, batch: int, in_features: int, out_features: int, bias: bool = True,
        nonlinear_mode: str = "identity", **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if nonlinear_mode.lower() not in ("identity", "relu"):
            raise ValueError(
                f"BatchMatMulActivation: nonlinear_mode must be 'identity' or 'relu', "
                f"got {nonlinear_mode!r}"
            )
        self.batch = batch
        self.out_features = out_features
        self.in_features = in_features
        self.weight = Parameter(np.zeros((batch, out_features, in_features), dtype=np.float32))
        self.bias = Parameter(np.zeros((out_features,), dtype=np.float32)) if bias else None
        self.nonlinear_mode = nonlinear_mode.lower()
        self.reset_parameters()

    def _get_fanin(self) -> int:
        return self.in_features

    def reset_parameters(self) -> None:
        """Weight ~ N(0, 1/in_features); bias = 0."""
        init.normal_(self.weight, 0.0, float(np.sqrt(1 / self._get_fanin())))
        if self.bias is not None:
            init.zeros_(self.bias)

    def _calc_linear(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        res = F.matmul(weight, x)
        if bias is not None:
            # per output feature (MegEngine 1.13 adds it along the last axis)
            res = res + bias.reshape(1, -1, 1)
        if self.nonlinear_mode == "relu":
            res = F.relu(res)
        return res

    def forward(self, x: Tensor) -> Tensor:
        return self._calc_linear(x, self.weight, self.bias)

    def _module_info_string(self) -> str:
        return (
            f"batch={self.batch}, in_features={self.in_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


__all__ = ["BatchMatMulActivation"]
