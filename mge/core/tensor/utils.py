"""MegEngine's ``megengine.core.tensor.utils`` helpers that user code and tests call.

Example:
    >>> import mge
    >>> make_shape_tuple(mge.tensor([2, 3]))
    (2, 3)
    >>> isscalar(mge.tensor(1.0)), isscalar(mge.tensor([1.0])), isscalar(3)
    (True, False, True)
    >>> astensor1d([1, mge.tensor(2), 3]).numpy()
    array([1, 2, 3], dtype=int32)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ...functional._astensor1d import astensor1d
from .base import Tensor


def make_shape_tuple(shape: Iterable[int] | Tensor) -> tuple[int, ...]:
    """``shape`` (a sequence, a numpy array or a 1-d integer Tensor) as a tuple of ints."""
    values = shape.numpy().tolist() if isinstance(shape, Tensor) else list(shape)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"make_shape_tuple: shape entries must be ints, got {shape!r}")
    return tuple(int(v) for v in values)


def isscalar(x: object) -> bool:
    """Whether ``x`` is a 0-d Tensor or a numpy scalar (``x.shape[0]`` of a symbolic shape
    is one)."""
    if isinstance(x, Tensor):
        return x.ndim == 0
    return bool(np.isscalar(x))


__all__ = ["astensor1d", "isscalar", "make_shape_tuple"]
