"""MegEngine's ``astensor1d`` (its address is ``megengine.core.tensor.utils``): shapes and
index lists given as sequences of numbers and Tensors, as one 1-d Tensor.

Example:
    >>> import mge
    >>> astensor1d([1, mge.tensor(2), 3]).numpy()
    array([1, 2, 3], dtype=int32)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..core.tensor.base import Tensor
from ..dtype import canonical_dtype, result_dtype
from .tensor import concat


def _const(value: Any, dtype: Any, device: str | None, reference: Tensor | None) -> Tensor:
    """A constant from ``value``; in the graph of ``reference`` when that is a var of a
    graph being edited (its class then has ``graph_const``, as ``network_node.VarNode``)."""
    array = np.asarray(value) if dtype is None else np.asarray(value, dtype=np.dtype(dtype))
    if array.dtype.kind not in "biuf":
        raise TypeError(f"astensor1d: cannot make a tensor of {type(value).__name__} "
                        f"(dtype {array.dtype})")
    array = array.astype(canonical_dtype(array.dtype)) if dtype is None else array
    graph_const = getattr(type(reference), "graph_const", None)
    if graph_const is not None:
        return graph_const(array, device or reference.device)
    return Tensor(array, device=device)


def astensor1d(x: Any, *reference: Tensor, dtype: Any = None,
               device: str | None = None) -> Tensor:
    """MegEngine's ``astensor1d``: ``x`` as a 1-d Tensor (for shapes and index lists).

    - a Tensor with ndim 0 or 1 is returned as it is, whatever ``dtype`` and ``device``;
    - a numpy array (ndim 0 or 1) or a sequence of Python numbers becomes a constant;
    - a sequence holding Tensors (and numbers, and lists of them one level deep) is
      concatenated, its elements promoted to one dtype, then cast to ``dtype`` if given.

    Constants are made in the graph of ``reference[0]`` when it is a ``Network`` var.

    Example:
        >>> import mge
        >>> astensor1d((2, mge.tensor(3)), dtype="float32").numpy()
        array([2., 3.], dtype=float32)
    """
    ref = reference[0] if reference else None
    if hasattr(x, "ndim"):
        if x.ndim not in (0, 1):
            raise ValueError(f"astensor1d: ndim != 1 or 0, get : {x.ndim}")
        return x if isinstance(x, Tensor) else _const(x, dtype, device, ref)
    if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
        raise TypeError(f"astensor1d: expects a Tensor, a numpy array or a sequence, "
                        f"got {type(x).__name__}")
    items = list(x)
    if not any(isinstance(item, Tensor) for item in items):
        return _const(items, dtype, device, ref)
    if len(items) == 1:
        out = items[0]
    else:
        flat = [sub for item in items
                for sub in (item if isinstance(item, list) else [item])]
        dt = result_dtype(*(v.dtype if isinstance(v, Tensor) else v for v in flat))
        tensor_ref = next(v for v in flat if isinstance(v, Tensor))
        parts = [(v if isinstance(v, Tensor) else _const(v, dt, device, tensor_ref))
                 for v in flat]
        out = concat([p.astype(dt) if p.dtype != dt else p for p in parts], device=device)
    return out if dtype is None or out.dtype == np.dtype(dtype) else out.astype(dtype)
