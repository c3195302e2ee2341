"""Base classes of every transform (MegEngine's ``megengine.data.transform.meta_transform``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any


class Transform(ABC):
    """A transform of one sample; subclasses implement :meth:`apply`.

    Example:
        >>> class AddOne(Transform):
        ...     def apply(self, input):
        ...         return input + 1
        >>> AddOne().apply_batch([1, 2])
        (2, 3)
    """

    def apply_batch(self, inputs: Sequence[Any]) -> tuple[Any, ...]:
        """Transform every sample of a batch (one :meth:`apply` per sample)."""
        return tuple(self.apply(sample) for sample in inputs)

    @abstractmethod
    def apply(self, input: Any) -> Any: ...

    def __repr__(self) -> str:
        return type(self).__name__


class PseudoTransform(Transform):
    """The identity transform (the DataLoader's default).

    Example:
        >>> PseudoTransform().apply(3)
        3
    """

    def apply(self, input: Any) -> Any:
        return input
