"""Argument checks and small op builders shared by ``F.tensor``, ``F.math`` and indexing.

Checks raise ``TypeError``/``ValueError`` naming the calling function and the shapes
involved, before any op runs.

Example:
    >>> check_axis("sum", -1, 3, (2, 3, 4))
    2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.apply import apply, mark_constant
from ..core.tensor import amp as amp_state
from ..core.tensor.base import Tensor
from ..device import parse_device
from ..dtype import canonical_dtype, result_dtype
from ..ops.elemwise import TypeCvt
from ..ops.shape import AxisAddRemove, Subtensor
from .elemwise import as_tensor, astype

_ARRAY_LIKE = (np.ndarray, np.generic, list, tuple, int, float, bool)


def to_tensor(fn: str, value: Any, arg: str = "inp") -> Tensor:
    """``value`` as a Tensor (array-likes are converted); ``TypeError`` otherwise."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, _ARRAY_LIKE):
        return mark_constant(Tensor(value))
    raise TypeError(f"{fn}: {arg} must be a Tensor, got {type(value).__name__}")


def concrete_ints(value: Any) -> Any:
    """``value`` with integer Tensors (a symbolic ``x.shape`` or parts of it, as user code
    reads them inside ``jit.trace``) replaced by their ints (a scalar or a tuple), as
    MegEngine does for op params; anything else is returned unchanged."""
    if isinstance(value, Tensor) and value.dtype.kind in "iu":
        return value.item() if value.ndim == 0 else tuple(value.numpy().reshape(-1).tolist())
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        return type(value)(concrete_ints(v) for v in value)
    return value


def check_axis(fn: str, axis: Any, ndim: int, shape: tuple[int, ...] = ()) -> int:
    """A possibly negative axis as 0..ndim-1; ``TypeError``/``ValueError`` naming ``fn``."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: axis {axis} is out of range for shape {shape or ndim}"
                         f" ({ndim} dims)")
    return int(axis) % ndim


def check_axes(fn: str, axis: Any, ndim: int, shape: tuple[int, ...] = (),
               repeated: type[Exception] = ValueError) -> list[int]:
    """An int or a sequence of distinct ints, normalized against ``ndim``.

    A repeated axis raises ``repeated`` (MegEngine's reductions raise ``AssertionError``).
    """
    axes = [axis] if not isinstance(axis, (Sequence, np.ndarray)) else list(axis)
    out = [check_axis(fn, a, ndim, shape) for a in axes]
    if len(set(out)) != len(out):
        raise repeated(f"{fn}: repeated axis in {axis!r}")
    return out


def shape_tuple(fn: str, shape: Any, arg: str = "shape", allow_none: bool = False) -> tuple:
    """An int, a sequence of ints or a 1-d int Tensor as a tuple of ints (a float Tensor
    of whole numbers counts, as MegEngine takes it)."""
    if isinstance(shape, Tensor):
        values = shape.numpy()
        if values.dtype.kind == "f" and np.all(np.isfinite(values)) \
                and np.all(values == np.round(values)):
            values = values.astype(np.int64)
        shape = values.tolist()
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return (int(shape),)
    if not isinstance(shape, (Sequence, np.ndarray)) or isinstance(shape, str):
        raise TypeError(f"{fn}: {arg} must be an int or a sequence of ints, got {shape!r}")
    out = []
    for d in shape:
        if isinstance(d, Tensor) and d.size == 1:
            d = d.item()
        if d is None and allow_none:
            out.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool):
            out.append(int(d))
        else:
            raise TypeError(f"{fn}: {arg} entries must be ints, got {shape!r}")
    return tuple(out)


def one(op: Any, *inputs: Tensor) -> Tensor:
    """The single output of ``apply(op, *inputs)``."""
    return apply(op, *inputs)[0]


def on_device(x: Tensor, device: str | None) -> Tensor:
    """``x`` moved (copied) to ``device`` unless that is None or already its device."""
    if device is None or device == x.device:
        return x
    parse_device(device)
    return x.to(device)


def add_axes(x: Tensor, axes: Sequence[int]) -> Tensor:
    """``AxisAddRemove`` adding size-1 axes at ``axes`` (positions in the result, ascending)."""
    return one(AxisAddRemove(desc=tuple(("ADD_1", a) for a in axes)), x)


def remove_axes(x: Tensor, axes: Sequence[int]) -> Tensor:
    """``AxisAddRemove`` removing the size-1 ``axes`` (given in removal order)."""
    return one(AxisAddRemove(desc=tuple(("REMOVE", a) for a in axes)), x)


def slice_axis(x: Tensor, axis: int, begin: int, end: int) -> Tensor:
    """``x`` restricted to ``begin:end`` on ``axis`` (one ``Subtensor``)."""
    return one(Subtensor(items=((axis, begin, end, None, None),)), x)


def dtype_arg(fn: str, dtype: Any) -> np.dtype:
    """``dtype`` as the dtype mge stores; ``TypeError`` naming ``fn`` if unsupported."""
    try:
        return canonical_dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{fn}: {exc}") from None


def number_arg(fn: str, arg: str, value: Any) -> float:
    """A Python/numpy number (or a one-element Tensor) as a float."""
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{fn}: {arg} must be a number, got {value!r}")
    return float(value)
_FLOATS = (np.dtype("float32"), np.dtype("float16"))


def float_tensor(fn: str, arg: str, value: Any, ndims: Sequence[int] | None = None) -> Tensor:
    """``value`` as a float Tensor, with its rank checked against ``ndims``."""
    t = as_tensor(value)
    if t.dtype not in _FLOATS:
        raise TypeError(f"{fn}: {arg} must be float32 or float16, got {t.dtype} {t.shape}")
    if ndims is not None and t.ndim not in ndims:
        want = " or ".join(f"{d}-d" for d in ndims)
        raise ValueError(f"{fn}: {arg} must be {want}, got shape {t.shape}")
    return t


def promoted(inp: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """``inp`` and ``weight`` in their common dtype (float16 with float32 is float32)."""
    dt = result_dtype(inp.dtype, weight.dtype)
    return astype(inp, dt), astype(weight, dt)


def sizes(fn: str, arg: str, value: Any, n: int, low: int) -> tuple[int, ...]:
    """An int or ``n`` ints (Tensors of a traced shape included), each at least ``low``, as
    an ``n``-tuple."""
    value = concrete_ints(value)
    seq = isinstance(value, (Sequence, np.ndarray))
    items = tuple(value) if seq else (value,) * n
    if len(items) != n or not all(isinstance(v, (int, np.integer)) for v in items):
        what = "a pair of ints" if n == 2 else f"{n} ints"
        raise TypeError(f"{fn}: {arg} must be an int or {what}, got {value!r}")
    if min(items) < low:
        raise ValueError(f"{fn}: {arg} must be >= {low}, got {value!r}")
    return tuple(int(v) for v in items)


def option(fn: str, arg: str, value: Any, allowed: Sequence[str]) -> str:
    """A mode string (or an enum member with ``.name``), upper-cased and checked."""
    name = getattr(value, "name", value)
    if not isinstance(name, str) or name.upper() not in allowed:
        choices = ", ".join(repr(a.lower()) for a in allowed)
        raise ValueError(f"{fn}: unknown {arg} {value!r}; expected one of {choices}")
    return name.upper()




def autocast_inputs(*tensors: Any) -> tuple[Any, ...]:
    """The float Tensors cast to autocast's low precision dtype while ``mge.amp`` autocast
    is on (others, and all of them when it is off, unchanged)."""
    if not amp_state._enabled:
        return tensors
    low = amp_state._get_amp_low_prec_dtype()
    return tuple(apply(TypeCvt(dtype=low), t)[0]
                 if isinstance(t, Tensor) and t.dtype.kind == "f" and t.dtype.name != low else t
                 for t in tensors)
