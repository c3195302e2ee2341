"""Target shapes built from Tensors: the shape input of a traced ``Reshape``/``Broadcast``.

Inside ``jit.trace`` a target shape may hold Tensors (``x.reshape(x.shape[0], -1)``
with symbolic shapes on). The op still gets the concrete target as its ``shape`` param,
and also the int32 vector those Tensors make (``Concat`` of their parts) as a second
input: the traced graph then records where the target came from, a dumped ``.mge``
writes it as MegEngine does (``Reshape`` with a shape input), and mge.lite re-derives it
for other input sizes.

Example:
    >>> import mge
    >>> shape_source((2, 3)) is None   # plain ints: nothing to record
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core._trace_option import use_symbolic_shape
from ..core.apply import apply, mark_constant, observing
from ..core.tensor.base import Tensor
from ..core.tracing import cover_value_reads
from ..ops.elemwise import Elemwise, TypeCvt
from ..ops.shape import Concat, GetVarShape, Reshape

INT32 = np.dtype("int32")


def _int32_vector(t: Tensor) -> Tensor:
    if t.dtype != INT32:
        t = apply(TypeCvt(dtype="int32"), t)[0]
    if t._shape != (t.size,) or t.ndim != 1:
        t = apply(Reshape(shape=(t.size,)), t)[0]
    return t


def _const(values: Sequence[int]) -> Tensor:
    return mark_constant(Tensor(np.array(values, INT32)))


def _vector(pieces: list[Tensor | int]) -> Tensor:
    """The int32 vector of ``pieces`` (Tensors of one element, or ints), by ``Concat``."""
    parts: list[Tensor] = []
    pending: list[int] = []
    for p in pieces:
        if isinstance(p, Tensor):
            if pending:
                parts.append(_const(pending))
                pending = []
            parts.append(_int32_vector(p))
        else:
            pending.append(int(p))
    if pending:
        parts.append(_const(pending))
    return parts[0] if len(parts) == 1 else apply(Concat(axis=0), *parts)[0]


def shape_source(shape: Any) -> Tensor | None:
    """While a tracer observes and ``shape`` is or holds Tensors: the int32 vector Tensor
    of the target shape (the op's shape input); None otherwise. The caller's reads of
    those Tensors (for the op's static param) are then covered: nothing is baked."""
    if not observing():
        return None
    if isinstance(shape, Tensor):
        if shape.ndim > 1:
            return None
        cover_value_reads([shape])  # the op takes it as a var: its value is not baked
        return _int32_vector(shape)
    if not isinstance(shape, (Sequence, np.ndarray)) or isinstance(shape, str):
        return None
    if not any(isinstance(d, Tensor) for d in shape) or any(d is None for d in shape):
        return None
    cover_value_reads([d for d in shape if isinstance(d, Tensor)])
    return _vector(list(shape))


def dims_of(x: Tensor, axes: Sequence[int], unknown_at: int | None = None) -> Tensor:
    """The int32 vector ``x.shape[axes]`` read by ``GetVarShape`` (with ``-1`` inserted
    at ``unknown_at``): a ``flatten`` target that follows the input size."""
    pieces: list[Tensor | int] = [apply(GetVarShape(), x)[0][a] for a in axes]
    if unknown_at is not None:
        pieces.insert(unknown_at, -1)
    return _vector(pieces)


def reshape_to_dims(x: Tensor, parts: Sequence[int | tuple[Tensor, int]]) -> Tensor:
    """``x`` reshaped to ``parts``: ints, or ``(t, axis)`` for "``t``'s dim ``axis``".

    mge's own functions use it where a result takes back an input's dims (``matmul``
    restoring the batch dims it flattened): with symbolic shapes on in a traced call,
    those dims are read by ``GetVarShape``, so the traced graph follows the input sizes.
    """
    target = tuple(p if isinstance(p, int) else p[0].shape[p[1]] for p in parts)
    source = None
    if use_symbolic_shape() and observing() and any(not isinstance(p, int) for p in parts):
        source = _vector([p if isinstance(p, int) else apply(GetVarShape(), p[0])[0][p[1]]
                          for p in parts])
    return apply(Reshape(shape=target), x, *([source] if source is not None else []))[0]


def scaled_hw(x: Tensor, scale: tuple[float, float]) -> Tensor | None:
    """With symbolic shapes on in a traced call: ``floor(float32(x.shape[2:4]) * scale)``
    as an int32 Tensor read by ``GetVarShape`` (a traced ``interpolate(scale_factor=...)``
    size, following the input size as in MegEngine); None otherwise."""
    if not (use_symbolic_shape() and observing()):
        return None
    hw = apply(GetVarShape(), x)[0][2:4]
    factors = mark_constant(Tensor(np.array(scale, np.float32)))
    scaled = apply(Elemwise(mode="MUL"), apply(TypeCvt(dtype="float32"), hw)[0], factors)[0]
    return apply(TypeCvt(dtype="int32"), apply(Elemwise(mode="FLOOR"), scaled)[0])[0]


__all__ = ["dims_of", "reshape_to_dims", "scaled_hw", "shape_source"]
