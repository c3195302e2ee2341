"""``megengine.core._imperative_rt.core2``: ``apply`` (run an op on tensors, returns a
tuple), ``TensorWeakRef`` (a weak reference to a tensor) and ``sync`` (wait for queued
work: mge runs eagerly, so there is none).

Example:
    >>> import mge
    >>> x = mge.tensor([1.0])
    >>> ref = TensorWeakRef(x)
    >>> ref() is x
    True
"""

from __future__ import annotations

import weakref

from ..apply import apply
from ..tensor.base import Tensor


class TensorWeakRef(weakref.ref):
    """A weak reference to a :class:`Tensor`: calling it gives the tensor, or ``None``
    once it was freed."""

    def __new__(cls, tensor: Tensor) -> TensorWeakRef:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"TensorWeakRef needs a Tensor, got {type(tensor).__name__}")
        return super().__new__(cls, tensor)

    def __init__(self, tensor: Tensor) -> None:
        super().__init__(tensor)


def sync() -> None:
    """Wait until queued computations finish (a no-op: mge computes eagerly)."""


__all__ = ["TensorWeakRef", "apply", "sync"]
