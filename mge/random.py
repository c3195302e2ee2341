"""``mge.random``: seeded host-side random tensors (MegEngine's ``seed``/``normal``/``uniform``).

Values come from one process-wide numpy ``Generator`` so that ``mge.random.seed(s)``
makes module initialisation (``M.init``) reproducible on every backend. Random
tensors are data, not ops: they are drawn on the host and wrapped as constants.

Example:
    >>> import mge
    >>> mge.random.seed(0)
    >>> a = mge.random.normal(size=(2,)).numpy()
    >>> mge.random.seed(0)
    >>> bool((a == mge.random.normal(size=(2,)).numpy()).all())
    True
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .core.tensor.base import Tensor

_rng: list[np.random.Generator] = [np.random.default_rng()]


def seed(seed: int) -> None:
    """Reset the global generator so that the following draws are reproducible."""
    _rng[0] = np.random.default_rng(seed)


def _shape(size: int | Iterable[int] | None) -> tuple[int, ...]:
    if size is None:
        return (1,)
    if isinstance(size, int):
        return (size,)
    return tuple(int(s) for s in size)


def normal(mean: float = 0.0, std: float = 1.0, size: Iterable[int] | None = None) -> Tensor:
    """A float32 tensor of shape ``size`` (default ``(1,)``) drawn from N(mean, std^2).

    Raises:
        ValueError: for a negative ``std``.
    """
    if std < 0:
        raise ValueError(f"mge.random.normal: std must be >= 0, got {std}")
    return Tensor(_rng[0].normal(mean, std, _shape(size)).astype(np.float32))


def uniform(low: float = 0.0, high: float = 1.0, size: Iterable[int] | None = None) -> Tensor:
    """A float32 tensor of shape ``size`` (default ``(1,)``) drawn from U[low, high).

    Raises:
        ValueError: when ``low > high``.
    """
    if low > high:
        raise ValueError(f"mge.random.uniform: low ({low}) must not exceed high ({high})")
    return Tensor(_rng[0].uniform(low, high, _shape(size)).astype(np.float32))


__all__ = ["normal", "seed", "uniform"]
