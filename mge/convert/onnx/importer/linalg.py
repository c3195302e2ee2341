"""ONNX converter for ``Det``: Gaussian elimination with partial pivoting over the last
two axes, unrolled for the (static) matrix size into MegEngine ``argmax``, ``gather`` and
elementwise ops (see :mod:`.node`).

Example:
    >>> import mge
    >>> float(Det()(None, mge.tensor([[0.0, 2.0], [3.0, 4.0]])).numpy())
    -6.0
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np  # noqa: F401  (doctest namespace)

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, converter


@dataclasses.dataclass(frozen=True)
class Det(OnnxOp):
    """Determinants of ``[..., n, n]`` matrices (float)."""

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        lead, n = tuple(x.shape[:-2]), x.shape[-1]
        if x.shape[-2] != n:
            raise ValueError(f"Det: square matrices expected, got shape {tuple(x.shape)}")
        a = F.reshape(F.astype(x, "float32"), (-1, n, n))
        batch = a.shape[0]
        det = F.ones((batch,), dtype="float32")
        rows = F.reshape(F.arange(n, dtype="int32"), (1, n))
        for k in range(n):
            pivot = F.add(F.argmax(F.abs(a[:, k:, k]), axis=1), k)  # [batch]
            column = F.reshape(pivot, (batch, 1))
            order = F.where(F.equal(rows, k), column,
                            F.where(F.equal(rows, column), F.full_like(column, k), rows))
            a = F.gather(a, 1, F.broadcast_to(F.reshape(order, (batch, n, 1)), (batch, n, n)))
            swapped = F.not_equal(pivot, F.full_like(pivot, k))
            head = a[:, k, k]
            det = F.mul(det, F.where(swapped, F.neg(head), head))
            if k + 1 < n:
                safe = F.where(F.equal(head, F.zeros_like(head)), F.ones_like(head), head)
                factor = F.div(a[:, k + 1:, k], F.reshape(safe, (batch, 1)))
                below = F.sub(a[:, k + 1:, :], F.mul(F.expand_dims(factor, 2), a[:, k:k + 1, :]))
                a = F.concat([a[:, :k + 1, :], below], axis=1)
        return F.astype(F.reshape(det, lead), x.dtype)


@converter("Det")
def _det(node: Node, ctx: Any) -> Converted:
    return Det(), node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
