"""Tensor creation (MegEngine ``F.tensor``'s creation functions): ``full``, ``zeros``,
``ones``, the ``*_like`` forms, ``linspace``, ``arange`` and ``eye`` (ops ``Fill``,
``Linspace``, ``Eye``); arguments are checked first, naming the function.

Example:
    >>> import mge.functional as F
    >>> F.zeros((2, 3)).shape
    (2, 3)
    >>> F.arange(3).numpy()
    array([0., 1., 2.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core._trace_option import use_symbolic_shape
from ..core.apply import mark_constant, observing
from ..core.tensor.base import Tensor
from ..core.tracing import cover_value_reads, traceable
from ..dtype import float32, scalar_dtype
from ..ops.reduce import Cumsum
from ..ops.shape import Broadcast, Eye, Fill, Linspace
from ._args import dtype_arg, number_arg, on_device, one, shape_tuple, to_tensor
from ._shape_source import dims_of, shape_source
from .elemwise import astype, ceil


def _filled(fn: str, shape: Any, value: Any, dtype: Any, device: str | None) -> Tensor:
    dims = shape_tuple(fn, shape)
    if any(d < 0 for d in dims):
        raise ValueError(f"{fn}: negative dimension in shape {dims}")
    if isinstance(value, Tensor):
        value = value.item()
    if not isinstance(value, (int, float, bool, np.number, np.bool_)):
        raise TypeError(f"{fn}: value must be a number, got {type(value).__name__}")
    dt = dtype_arg(fn, scalar_dtype(value) if dtype is None else dtype)
    source = shape_source(shape)
    if source is not None:  # a traced x.shape: MegEngine's broadcast of the value, whose
        # size follows the input's in the graph (a Fill would bake the traced size)
        value_t = Tensor(np.asarray(value, dt), dtype=dt)
        return on_device(one(Broadcast(shape=dims), value_t, source), device)
    return on_device(one(Fill(value=float(value), shape=dims, dtype=dt.name)), device)


@traceable
def full(shape: int | tuple[int, ...], value: bool | int | float, *, dtype: Any = None,
         device: str | None = None) -> Tensor:
    """A tensor of ``shape`` filled with ``value``; the dtype follows the value by default
    (bool, int32 or float32).

    Example:
        >>> F.full((2,), 6).numpy()
        array([6, 6], dtype=int32)
    """
    return _filled("full", shape, value, dtype, device)


@traceable
def zeros(shape: int | tuple[int, ...], *, dtype: Any = "float32", device: str | None = None
          ) -> Tensor:
    """A tensor of zeros.

    Example:
        >>> F.zeros((2, 3)).shape
        (2, 3)
    """
    return _filled("zeros", shape, 0, dtype, device)


@traceable
def ones(shape: int | tuple[int, ...], *, dtype: Any = "float32", device: str | None = None
         ) -> Tensor:
    """A tensor of ones.

    Example:
        >>> F.ones(3).numpy()
        array([1., 1., 1.], dtype=float32)
    """
    return _filled("ones", shape, 1, dtype, device)


@traceable
def full_like(inp: Tensor, value: int | float) -> Tensor:
    """A tensor like ``inp`` (shape, dtype, device) filled with ``value``.

    Example:
        >>> F.full_like(mge.tensor([1, 2]), 2.5).numpy()
        array([2, 2], dtype=int32)
    """
    x = to_tensor("full_like", inp)
    if x.ndim and observing() and use_symbolic_shape():  # traced: follows x's size
        return _filled("full_like", dims_of(x, range(x.ndim)), value, x.dtype, x.device)
    return _filled("full_like", x.shape, value, x.dtype, x.device)


@traceable
def zeros_like(inp: Tensor) -> Tensor:
    """Zeros like ``inp``.

    Example:
        >>> F.zeros_like(F.ones((2, 2))).numpy()
        array([[0., 0.],
               [0., 0.]], dtype=float32)
    """
    return full_like(inp, 0)


@traceable
def ones_like(inp: Tensor) -> Tensor:
    """Ones like ``inp``.

    Example:
        >>> F.ones_like(mge.tensor([3, 4])).numpy()
        array([1, 1], dtype=int32)
    """
    return full_like(inp, 1)


@traceable
def linspace(start: int | float, stop: int | float, num: int, *, dtype: Any = "float32",
             device: str | None = None) -> Tensor:
    """``num`` evenly spaced values over ``[start, stop]`` (computed in float32).

    Example:
        >>> F.linspace(2.0, 3.0, 5).numpy()
        array([2.  , 2.25, 2.5 , 2.75, 3.  ], dtype=float32)
    """
    a, b = number_arg("linspace", "start", start), number_arg("linspace", "stop", stop)
    n = shape_tuple("linspace", num, "num")[0]
    if n < 0:
        raise ValueError(f"linspace: num must be non-negative, got {num}")
    dt = dtype_arg("linspace", dtype)
    out = one(Linspace(start=a, stop=b, num=n), *_scalar_sources((start, stop, num)))
    return on_device(out if dt == float32 else astype(out, dt), device)


def _scalar_sources(values: Sequence[Any]) -> list[Tensor]:
    """While traced, with a Tensor among ``values`` (a traced ``x.shape[k]``): each value
    as a one-element Tensor, the op's inputs its params were read from (as MegEngine's
    ``Linspace`` takes them), so a dumped graph follows the input size; else none."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors or not observing():
        return []
    cover_value_reads(tensors)  # their values were read for the params: not baked
    return [v if isinstance(v, Tensor) else mark_constant(Tensor(np.float32(v)))
            for v in values]


@traceable
def arange(start: int | float = 0, stop: int | float | None = None, step: int | float = 1, *,
           dtype: Any = "float32", device: str | None = None) -> Tensor:
    """Values ``start, start + step, ...`` below ``stop`` (one ``Linspace``, as MegEngine:
    the count is ``ceil((stop - start) / step)`` in float32).

    Example:
        >>> F.arange(1, 4).numpy()
        array([1., 2., 3.], dtype=float32)
    """
    if stop is None:
        start, stop = 0, start
    if (start, step) == (0, 1) and isinstance(stop, Tensor) and observing():
        return _traced_count(stop, dtype, device)  # a traced size, as _filled takes it
    if observing() and any(isinstance(v, Tensor) for v in (start, stop, step)):
        return _traced_arange(start, stop, step, dtype, device)
    a, b, s = (np.float32(number_arg("arange", n, v))
               for n, v in (("start", start), ("stop", stop), ("step", step)))
    if s == 0:
        raise ValueError("arange: step must not be zero")
    num = max(int(np.ceil((b - a) / s)), 0)
    last = np.float32(a + s * np.float32(num - 1))
    return linspace(float(a), float(last), num, dtype=dtype, device=device)


def _traced_arange(start: Any, stop: Any, step: Any, dtype: Any, device: str | None
                   ) -> Tensor:
    """``arange`` with a traced Tensor bound, as MegEngine computes it: the count
    ``ceil((stop - start) / step)`` and the last value in float32 ops, then ``linspace``
    of those Tensors, so a dumped graph follows the input size."""
    a, b, s = (astype(v, float32) if isinstance(v, Tensor)
               else mark_constant(Tensor(np.float32(number_arg("arange", n, v))))
               for n, v in (("start", start), ("stop", stop), ("step", step)))
    if s.item() == 0:
        raise ValueError("arange: step must not be zero")
    num = ceil((b - a) / s)
    return linspace(a, a + s * (num - 1), num, dtype=dtype, device=device)


def _traced_count(stop: Tensor, dtype: Any, device: str | None) -> Tensor:
    """``arange(x.shape[k])`` while traced: ``0, 1, ...`` counted (an exclusive ``Cumsum``)
    over ones of the traced size (:func:`_filled`'s broadcast, which follows the input
    size), so a dumped graph follows the input size (a ``Linspace`` would bake the traced
    count; MegEngine's takes it as a var). Exact below 2**24, as MegEngine's float32
    ``Linspace``."""
    ones = _filled("arange", (stop,), 1.0, "float32", None)
    out = one(Cumsum(axis=0, exclusive=True, reverse=False), ones)
    dt = dtype_arg("arange", dtype)
    return on_device(out if dt == float32 else astype(out, dt), device)


@traceable
def eye(N: int, M: int | None = None, *, dtype: Any = "float32",  # noqa: N803 - MegEngine names
        device: str | None = None) -> Tensor:
    """A 2-d tensor with ones on the diagonal.

    Example:
        >>> F.eye(2, 3).numpy()
        array([[1., 0., 0.],
               [0., 1., 0.]], dtype=float32)
    """
    given = N if M is None else (N, M)
    if M is None and isinstance(N, (Tensor, Sequence, np.ndarray)):
        sizes = shape_tuple("eye", N, "N")  # MegEngine also takes a (N,) or (N, M) shape
        if len(sizes) not in (1, 2):
            raise ValueError(f"eye: a shape N must have 1 or 2 entries, got {sizes}")
        N, M = sizes[0], sizes[-1]  # noqa: N806 - MegEngine names
    shape = shape_tuple("eye", (N, N if M is None else M), "N, M")
    if min(shape) < 0:
        raise ValueError(f"eye: negative size {shape}")
    dt = dtype_arg("eye", dtype)
    # traced sizes: MegEngine's shape input var, so a dumped graph follows the input size
    source = shape_source((given,) if isinstance(given, Tensor) and given.ndim == 0
                          else given)
    return on_device(one(Eye(shape=shape, dtype=dt.name),
                         *([source] if source is not None else [])), device)


__all__ = ["arange", "eye", "full", "full_like", "linspace", "ones", "ones_like", "zeros",
           "zeros_like"]
