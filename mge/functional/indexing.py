"""Tensor indexing (``x[index]``, ``x[index] = value``) lowered to MegEngine's ops.

Basic indices (ints, slices) become one ``Subtensor`` (``SetSubtensor`` to assign);
as soon as an integer tensor/list (or a bool mask) appears, the whole index becomes one
``IndexingMultiAxisVec`` (``IndexingSetMultiAxisVec``) with numpy's semantics. ``None``
inserts axes first with ``AxisAddRemove``, as MegEngine does. Bool masks are turned into
integer indices from their current values (like numpy's ``nonzero``).

Errors name the tensor's shape and the index: ``IndexError`` for out-of-range indices and
too many indices, ``TypeError`` for index kinds that are not supported.

Example:
    >>> import numpy as np, mge
    >>> x = mge.tensor(np.arange(12).reshape(3, 4))
    >>> getitem(x, (slice(None, None, -1), [0, 2])).numpy()
    array([[ 8, 10],
           [ 4,  6],
           [ 0,  2]], dtype=int32)
    >>> setitem(x, (0, slice(1, 3)), 9).numpy()[0]
    array([0, 9, 9, 3], dtype=int32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..core.apply import apply
from ..core.opdef import TensorInfo
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..dtype import int32
from ..ops.shape import (
    CondTake,
    IndexingMultiAxisVec,
    IndexingSetMultiAxisVec,
    SetSubtensor,
    Subtensor,
)
from ._args import add_axes, one, remove_axes, to_tensor
from .elemwise import astype
from .tensor import broadcast_to, reshape

_KINDS = "integers, slices, None, Ellipsis and integer or bool tensors/lists"


@dataclasses.dataclass
class _Plan:
    """An index resolved against a tensor: axes to add, then one indexing op's items."""

    new_axes: list[int] = dataclasses.field(default_factory=list)
    items: list[tuple] = dataclasses.field(default_factory=list)
    vectors: list[Tensor] = dataclasses.field(default_factory=list)
    scalars: list[tuple[int, int]] = dataclasses.field(default_factory=list)

    def getter(self) -> Subtensor | IndexingMultiAxisVec:
        if not self.vectors:
            return Subtensor(items=tuple(self.items))
        return IndexingMultiAxisVec(items=tuple(self.items))

    def setter(self) -> SetSubtensor | IndexingSetMultiAxisVec:
        cls = IndexingSetMultiAxisVec if self.vectors else SetSubtensor
        return cls(items=tuple(self.items))


def _as_int(fn: str, value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, Tensor) and value.size == 1 and value.dtype.kind in "iu":
        return int(value.item())
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    raise TypeError(f"{fn}: {what} must be an int or None, got {value!r}")


def _entry(fn: str, k: Any) -> Any:
    """One index entry in canonical form: None, Ellipsis, bool, slice, int or an array."""
    if k is None or k is Ellipsis or isinstance(k, slice):
        if isinstance(k, slice):
            k = slice(*(_as_int(fn, v, "slice bound") for v in (k.start, k.stop, k.step)))
            if k.step == 0:
                raise ValueError(f"{fn}: slice step cannot be zero")
        return k
    if isinstance(k, (bool, np.bool_)):
        return bool(k)
    if isinstance(k, (int, np.integer)):
        return int(k)
    if isinstance(k, (Tensor, list, tuple, np.ndarray)):  # a tuple entry is a list of indices
        arr = k.numpy() if isinstance(k, Tensor) else np.asarray(k)
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int32)
        if arr.dtype == np.bool_ or arr.dtype.kind in "iu":
            if arr.ndim == 0 and arr.dtype != np.bool_:
                return int(arr)
            return k if isinstance(k, Tensor) and arr.dtype != np.bool_ else arr
    raise TypeError(f"{fn}: only {_KINDS} are valid indices, got {k!r}")


def _consumed(e: Any) -> int:
    """How many input dims an entry indexes."""
    if e is None or e is Ellipsis or isinstance(e, bool):
        return 0
    if isinstance(e, np.ndarray) and e.dtype == np.bool_:
        return e.ndim
    return 1


def _entries(fn: str, shape: tuple[int, ...], index: Any) -> list[Any]:
    entries = [_entry(fn, k) for k in (index if isinstance(index, tuple) else (index,))]
    used = sum(_consumed(e) for e in entries)
    if used > len(shape):
        raise IndexError(f"{fn}: too many indices for a tensor of shape {shape}: {index!r} "
                         f"indexes {used} dims")
    ellipses = [i for i, e in enumerate(entries) if e is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError(f"{fn}: an index can only have a single Ellipsis, got {index!r}")
    fill = [slice(None)] * (len(shape) - used)
    if ellipses:
        return entries[:ellipses[0]] + fill + entries[ellipses[0] + 1:]
    return entries + fill


def _check_range(fn: str, values: np.ndarray, axis: int, shape: tuple[int, ...]) -> None:
    dim = shape[axis]
    bad = values[(values < -dim) | (values >= dim)]
    if bad.size:
        raise IndexError(f"{fn}: index {bad.flat[0]} is out of bounds for axis {axis} with "
                         f"size {dim} (tensor shape {shape})")


def _vector(fn: str, e: Any, axis: int, shape: tuple[int, ...]) -> Tensor:
    """An integer index as an int32 Tensor, range-checked against ``shape[axis]``."""
    values = e.numpy() if isinstance(e, Tensor) else e
    _check_range(fn, values, axis, shape)
    if isinstance(e, Tensor):
        return e if e.dtype == int32 else astype(e, int32)
    return Tensor(values.astype(np.int32))


def _plan(fn: str, shape: tuple[int, ...], index: Any) -> _Plan:
    plan = _Plan()
    pos = dim = 0
    for e in _entries(fn, shape, index):
        if e is None or isinstance(e, bool):
            plan.new_axes.append(pos)
            if e is False:
                plan.items.append((pos, 0, 0, None, None))
            pos += 1
        elif isinstance(e, slice):
            if e != slice(None):
                plan.items.append((pos, e.start, e.stop, e.step, None))
            pos, dim = pos + 1, dim + 1
        elif isinstance(e, int):
            _check_range(fn, np.array([e]), dim, shape)
            plan.scalars.append((pos, e))
            pos, dim = pos + 1, dim + 1
        elif isinstance(e, np.ndarray) and e.dtype == np.bool_:
            if e.shape != shape[dim:dim + e.ndim]:
                raise IndexError(f"{fn}: bool index of shape {e.shape} does not match the "
                                 f"tensor's dims {dim}.. of shape {shape}")
            for j, nz in enumerate(np.nonzero(e)):
                plan.items.append((pos + j, None, None, None, True))
                plan.vectors.append(Tensor(nz.astype(np.int32)))
            pos, dim = pos + e.ndim, dim + e.ndim
        else:
            plan.items.append((pos, None, None, None, True))
            plan.vectors.append(_vector(fn, e, dim, shape))
            pos, dim = pos + 1, dim + 1
    for axis, value in plan.scalars:
        if plan.vectors:
            plan.items.append((axis, None, None, None, True))
            plan.vectors.append(Tensor(np.array(value, np.int32)))
        else:
            plan.items.append((axis, None, None, None, value))
    return plan


def _merge_bool_dims(fn: str, x: Tensor, index: Any) -> tuple[Tensor, Any]:
    """As MegEngine: the dims a bool mask of ndim > 1 covers are merged into one (``x``
    reshaped, the mask flattened), so ``None`` entries never push ``x`` past 7 dims."""
    entries = _entries(fn, x.shape, index)
    if not any(isinstance(e, np.ndarray) and e.dtype == np.bool_ and e.ndim > 1
               for e in entries):
        return x, index
    shape, merged, dim = list(x.shape), [], 0
    for e in entries:
        if isinstance(e, np.ndarray) and e.dtype == np.bool_ and e.ndim > 1:
            if e.shape != tuple(shape[dim:dim + e.ndim]):
                raise IndexError(f"{fn}: bool index of shape {e.shape} does not match the "
                                 f"tensor's dims {dim}.. of shape {x.shape}")
            shape[dim:dim + e.ndim] = [e.size]
            e = e.reshape(-1)
        merged.append(e)
        dim += _consumed(e)
    return reshape(x, tuple(shape)), tuple(merged)


def _source(x: Tensor, plan: _Plan) -> Tensor:
    return add_axes(x, plan.new_axes) if plan.new_axes else x


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]`` with numpy's semantics (see the module docstring).

    Example:
        >>> getitem(mge.tensor([[1, 2], [3, 4]]), (-1, None)).numpy()
        array([[3, 4]], dtype=int32)
    """
    x, index = _merge_bool_dims("getitem", to_tensor("getitem", x, "x"), index)
    plan = _plan("getitem", x.shape, index)
    return one(plan.getter(), _source(x, plan), *plan.vectors)


def setitem(x: Tensor, index: Any, value: Any) -> Tensor:
    """A copy of ``x`` with ``x[index] = value`` (``value`` broadcast and cast to x's dtype).

    ``Tensor.__setitem__`` stores the result back into the tensor.

    Example:
        >>> setitem(mge.tensor([1.0, 2.0, 3.0]), [0, 2], 0.0).numpy()
        array([0., 2., 0.], dtype=float32)
    """
    x = to_tensor("setitem", x, "x")
    shape = x._shape
    x, index = _merge_bool_dims("setitem", x, index)
    plan = _plan("setitem", x.shape, index)
    src = _source(x, plan)
    infos = [TensorInfo(t.shape, t.dtype) for t in (src, *plan.vectors)]
    target = plan.getter().infer(infos)[0].shape
    val = astype(value, x.dtype) if isinstance(value, Tensor) else Tensor(value, dtype=x.dtype)
    extra = val.ndim - len(target)
    if extra > 0 and all(d == 1 for d in val.shape[:extra]):
        val = reshape(val, val.shape[extra:])
    if len(val.shape) > len(target) or any(
        v not in (1, t) for v, t in zip(reversed(val.shape), reversed(target), strict=False)
    ):
        raise ValueError(f"setitem: cannot assign a value of shape {val.shape} to the indexed "
                         f"part of shape {target} (tensor {x.shape}, index {index!r})")
    if val.shape != target:
        val = broadcast_to(val, target)
    out = one(plan.setter(), src, val, *plan.vectors)
    out = remove_axes(out, plan.new_axes[::-1]) if plan.new_axes else out
    return out if out._shape == shape else reshape(out, shape)


@traceable
def cond_take(mask: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """The elements of ``x`` where the bool ``mask`` (of ``x``'s shape) is true, and
    their indices in the flattened ``x`` (int32), both 1-d (``CondTake``).

    The output length is read from ``mask``'s values when the op is built (for a
    ``Network`` var whose mask depends on a graph input, the outputs have no shape).

    Raises:
        TypeError: ``x`` or ``mask`` not a Tensor. ValueError: a non-bool mask, shapes or
            devices that differ.

    Example:
        >>> x = mge.tensor([[1, 2, 3], [4, 5, 6]])
        >>> m = mge.tensor([[True, False, True], [False, True, True]])
        >>> [t.numpy().tolist() for t in F.cond_take(m, x)]
        [[1, 3, 5, 6], [0, 2, 4, 5]]
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"cond_take: input must be a Tensor, got {type(x).__name__}")
    if not isinstance(mask, Tensor):
        raise TypeError(f"cond_take: mask must be a Tensor, got {type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise ValueError(f"cond_take: mask must be bool, got {mask.dtype}")
    if mask.shape != x.shape:
        raise ValueError(f"cond_take: mask {mask.shape} and input {x.shape} differ in shape")
    if x.device != mask.device:
        raise ValueError(f"cond_take: ambiguous device: {x.device} vs {mask.device}")
    try:
        size = int(np.count_nonzero(mask.numpy()))
    except ValueError:
        if not hasattr(type(mask), "apply_symbolic"):
            raise
        # a var of a graph being edited whose mask has no value (it depends on a graph
        # input): MegEngine's dynamic output shape; the size is the bound, and the var
        # class marks the outputs as dynamic (mge.utils.network_node)
        size = mask.size
    values, index = apply(CondTake(size=size), x, mask)
    return values, index


__all__ = ["cond_take", "getitem", "setitem"]
