"""MegEngine's ``megengine.core.tensor.utils`` helpers that user code and tests call.

Example:
    >>> import mge
    >>> make_shape_tuple(mge.tensor([2, 3]))
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .base import Tensor


def make_shape_tuple(shape: Iterable[int] | Tensor) -> tuple[int, ...]:
    """``shape`` (a sequence, a numpy array or a 1-d integer Tensor) as a tuple of ints."""
    values = shape.numpy().tolist() if isinstance(shape, Tensor) else list(shape)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"make_shape_tuple: shape entries must be ints, got {shape!r}")
    return tuple(int(v) for v in values)


__all__ = ["make_shape_tuple"]
