"""``megengine.functional.inplace``: MegEngine 1.13's in-place update used by optimizers
written against its internals (YOLOX's SGD): ``dest = alpha * dest + beta * delta``.

Example:
    >>> import numpy as np, mge
    >>> from mge.functional.inplace import _inplace_add_
    >>> v = mge.tensor([1.0, 2.0])
    >>> _inplace_add_(v, mge.tensor([10.0, 10.0]), alpha=0.5, beta=2.0) is v
    True
    >>> v.numpy()
    array([20.5, 21. ], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from ..core.tensor.base import Tensor


def _inplace_add_(dest: Tensor, delta: Any, alpha: Any, beta: Any) -> Tensor:
    """Set ``dest`` (a tensor or parameter, kept as the same object) to
    ``alpha * dest + beta * delta`` and return it."""
    dest._reset(dest * alpha + delta * beta)
    return dest


__all__: list[str] = []
