"""Merging transformed samples into a mini-batch (MegEngine's ``megengine.data.collator``)."""

from __future__ import annotations

import collections.abc
from typing import Any

import numpy as np

_UNBATCHABLE_KINDS = "OSUaV"  # object, bytes, str and void arrays have no numeric stacking


class Collator:
    """Stacks a list of samples into one batch, recursing into tuples, lists and dicts.

    numpy arrays are stacked along a new first axis, numpy scalars and Python ints become
    an array, Python floats a float64 array; strings and bytes stay a list.

    Example:
        >>> import numpy as np
        >>> batch = Collator().apply([(np.zeros((2, 2)), 1), (np.ones((2, 2)), 2)])
        >>> batch[0].shape, batch[1]
        ((2, 2, 2), array([1, 2]))
    """

    def apply(self, inputs: list[Any]) -> Any:
        if not inputs:
            raise ValueError("Collator.apply: no samples to collate")
        first = inputs[0]
        if isinstance(first, np.ndarray):
            if first.dtype.kind in _UNBATCHABLE_KINDS:
                raise TypeError(f"Collator: cannot batch numpy arrays of dtype {first.dtype}")
            return np.ascontiguousarray(np.stack(inputs))
        if isinstance(first, np.generic) and not isinstance(first, (np.str_, np.bytes_)):
            return np.array(inputs)
        if isinstance(first, float):
            return np.array(inputs, dtype=np.float64)
        if isinstance(first, int):
            return np.array(inputs)
        if isinstance(first, (str, bytes)):
            return inputs
        if isinstance(first, collections.abc.Mapping):
            return {key: self.apply([sample[key] for sample in inputs]) for key in first}
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
            return type(first)(*(self.apply(list(field)) for field in zip(*inputs)))
        if isinstance(first, collections.abc.Sequence):
            return [self.apply(list(field)) for field in zip(*inputs)]
        raise TypeError(
            "Collator: samples must hold numpy arrays, numbers, strings, bytes, dicts or "
            f"sequences; found {type(first).__name__}"
        )
