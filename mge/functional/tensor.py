"""Tensor creation and manipulation (MegEngine ``F.tensor``): reshape, transpose, concat, ...

Every function checks its arguments first (``TypeError``/``ValueError`` naming the
function and the shapes involved), then builds the ops MegEngine's own functions
produce (``Reshape``, ``Dimshuffle``, ``AxisAddRemove``, ``Concat``, ``Fill``, ...).

Example:
    >>> import mge, mge.functional as F
    >>> x = F.arange(6).reshape(2, 3)
    >>> F.concat([x, F.zeros((1, 3))]).shape
    (3, 3)
    >>> F.expand_dims(x, (0, -1)).shape
    (1, 2, 3, 1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..core._trace_option import use_symbolic_shape
from ..core.apply import observing
from ..core.opdef import OpError
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..dtype import result_dtype
from ..ops.shape import (
    Broadcast,
    Concat,
    Dimshuffle,
    IndexingMultiAxisVec,
    IndexingSetMultiAxisVec,
    Reshape,
    Subtensor,
)
from ._args import (
    add_axes,
    check_axes,
    check_axis,
    on_device,
    one,
    remove_axes,
    shape_tuple,
    slice_axis,
    to_tensor,
)
from ._shape_source import dims_of, shape_source
from .creation import (  # F.tensor holds them in MegEngine
    arange,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    zeros,
    zeros_like,
)
from .elemwise import astype, elemwise, logical_and, logical_not, logical_or, sub


# ----------------------------------------------------------------------------- shape
@traceable
def reshape(inp: Tensor, target_shape: Iterable[int]) -> Tensor:
    """Reshape ``inp`` to ``target_shape``; one entry may be -1 (inferred).

    Example:
        >>> F.reshape(F.arange(12), (3, -1)).shape
        (3, 4)
    """
    x = to_tensor("reshape", inp)
    shape = shape_tuple("reshape", target_shape, "target_shape")
    if any(d < -1 for d in shape) or shape.count(-1) > 1:
        raise ValueError(f"reshape: invalid target shape {shape} (at most one -1)")
    known = math.prod(d for d in shape if d != -1)
    bad = known != x.size if -1 not in shape else known == 0 or x.size % known
    if bad:  # a ValueError, and a RuntimeError as MegEngine's
        raise OpError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} "
                      f"elements) to {shape}")
    source = shape_source(target_shape)
    return one(Reshape(shape=shape), x, *([source] if source is not None else []))


@traceable
def transpose(inp: Tensor, pattern: Iterable[int | str]) -> Tensor:
    """Permute the axes by ``pattern``; ``'x'`` entries insert new axes of size 1.

    Example:
        >>> F.transpose(F.zeros((2, 3)), (1, "x", 0)).shape
        (3, 1, 2)
    """
    x = to_tensor("transpose", inp)
    pat = []
    for p in pattern:
        if p == "x":
            pat.append(-1)
        else:
            pat.append(check_axis("transpose", p, x.ndim, x.shape))
    used = [p for p in pat if p != -1]
    dropped = [i for i in range(x.ndim) if i not in used]
    if len(set(used)) != len(used) or any(x.shape[i] != 1 for i in dropped):
        raise ValueError(f"transpose: pattern {tuple(pattern)} is not a permutation of the "
                         f"axes of shape {x.shape} (only size-1 axes may be dropped)")
    return one(Dimshuffle(pattern=tuple(pat), ndim=x.ndim), x)


@traceable
def swapaxes(inp: Tensor, axis1: int, axis2: int) -> Tensor:
    """Interchange two axes.

    Example:
        >>> F.swapaxes(F.zeros((2, 3, 4)), 0, -1).shape
        (4, 3, 2)
    """
    x = to_tensor("swapaxes", inp)
    a, b = (check_axis("swapaxes", ax, x.ndim, x.shape) for ax in (axis1, axis2))
    pattern = list(range(x.ndim))
    pattern[a], pattern[b] = b, a
    return transpose(x, pattern)


@traceable
def flatten(inp: Tensor, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Merge axes ``start_axis..end_axis`` into one.

    The leading dim is left as -1 in the ``Reshape`` so a traced graph keeps working
    for other batch sizes; with symbolic shapes on (``jit.trace``), the kept dims are
    read by ``GetVarShape`` and the merged one is -1, as in MegEngine, so the graph
    follows any input size.

    Example:
        >>> F.flatten(F.zeros((2, 3, 4, 5)), 1).shape
        (2, 60)
    """
    x = to_tensor("flatten", inp)
    ndim = max(x.ndim, 1)
    start, end = (check_axis("flatten", a, ndim, x.shape) for a in (start_axis, end_axis))
    if start > end:
        raise ValueError(f"flatten: start_axis {start_axis} is after end_axis {end_axis} "
                         f"for shape {x.shape}")
    shape = x.shape or (1,)
    kept = [*range(start), *range(end + 1, len(shape))]
    if x.size and kept and use_symbolic_shape() and observing():
        target = shape[:start] + (-1,) + shape[end + 1:]
        return one(Reshape(shape=target), x, dims_of(x, kept, unknown_at=start))
    target = shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]
    if x.size:
        target = (-1,) + target[1:]
    return one(Reshape(shape=target), x)


@traceable
def broadcast_to(inp: Tensor, shape: int | Iterable[int | None]) -> Tensor:
    """Broadcast to ``shape`` (numpy rules); ``None`` entries keep the input's dim.

    Example:
        >>> F.broadcast_to(F.ones(3), (2, 3)).shape
        (2, 3)
    """
    x = to_tensor("broadcast_to", inp)
    target = list(shape_tuple("broadcast_to", shape, allow_none=True))
    for i, d in enumerate(target):
        k = x.ndim - len(target) + i
        if d is None:
            if k < 0:
                raise ValueError(f"broadcast_to: None at {i} has no input dim ({x.shape} "
                                 f"to {tuple(target)})")
            target[i] = x.shape[k]
        elif d < 0:
            raise ValueError(f"broadcast_to: negative size in {tuple(target)}")
    out = tuple(target)
    if len(x.shape) > len(out) or any(
        s not in (1, d) for s, d in zip(reversed(x.shape), reversed(out), strict=False)
    ):
        raise RuntimeError(f"broadcast_to: cannot broadcast shape {x.shape} to {out}")
    source = shape_source(shape)
    return one(Broadcast(shape=out), x, *([source] if source is not None else []))


@traceable
def expand_dims(inp: Tensor, axis: int | Sequence[int]) -> Tensor:
    """Insert size-1 axes at ``axis`` (positions in the result; negative from its end).

    Example:
        >>> F.expand_dims(F.zeros((2, 3)), (1, -1)).shape
        (2, 1, 3, 1)
    """
    x = to_tensor("expand_dims", inp)
    given = [axis] if not isinstance(axis, (Sequence, np.ndarray)) else list(axis)
    # as MegEngine: a repeated axis adds one more axis there ([0, 0]: (1, 1, ...)); the
    # sorted axes are added one after the other, each within the tensor grown so far
    axes = sorted(check_axis("expand_dims", a, x.ndim + len(given), x.shape) for a in given)
    for k, a in enumerate(axes):
        if a > x.ndim + k:
            raise ValueError(f"expand_dims: axis {axis!r} of a {x.ndim}-d tensor adds axis "
                             f"{a} to a {x.ndim + k}-d one")
    return add_axes(x, axes)


@traceable
def squeeze(inp: Tensor, axis: int | Sequence[int] | None = None) -> Tensor:
    """Remove size-1 axes (all of them when ``axis`` is None).

    Example:
        >>> F.squeeze(F.zeros((1, 2, 1)), 0).shape
        (2, 1)
    """
    x = to_tensor("squeeze", inp)
    if axis is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    else:
        axes = check_axes("squeeze", axis, x.ndim, x.shape)
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            raise ValueError(f"squeeze: axis {bad} of shape {x.shape} is not of size 1")
    return remove_axes(x, sorted(axes, reverse=True)) if axes else x


def _same_ndim(fn: str, xs: Sequence[Tensor]) -> None:
    if len({x.ndim for x in xs}) != 1:
        raise ValueError(f"{fn}: tensors differ in ndim: {[x.shape for x in xs]}")


def _promote(xs: Sequence[Tensor]) -> list[Tensor]:
    dt = result_dtype(*(x.dtype for x in xs))
    return [astype(x, dt) for x in xs]


def _tensor_list(fn: str, inps: Any) -> list[Tensor]:
    if isinstance(inps, Tensor) or not isinstance(inps, Iterable):
        raise TypeError(f"{fn}: expects a sequence of Tensors, got {type(inps).__name__}")
    xs = [to_tensor(fn, x, "inps") for x in inps]
    if not xs:
        raise ValueError(f"{fn}: needs at least one tensor")
    return xs


@traceable
def concat(inps: Iterable[Tensor], axis: int = 0, device: str | None = None) -> Tensor:
    """Concatenate along ``axis`` (dtypes are promoted; other dims must match).

    0-d tensors count as shape ``(1,)``, as in MegEngine. Inputs on different devices
    need ``device`` (where all are moved first), else ``ValueError`` (MegEngine's rule).

    Example:
        >>> F.concat([F.zeros((2, 3)), F.ones((1, 3))]).shape
        (3, 3)
        >>> F.concat([mge.tensor(1.0), mge.tensor(2.0)]).numpy()
        array([1., 2.], dtype=float32)
    """
    xs = [reshape(x, (1,)) if x.ndim == 0 else x for x in _tensor_list("concat", inps)]
    if device is None and len({str(x.device) for x in xs}) > 1:
        raise ValueError(f"concat: ambiguous device: inputs are on "
                         f"{sorted({str(x.device) for x in xs})}; pass device=")
    xs = [on_device(x, device) for x in xs]
    _same_ndim("concat", xs)
    ax = check_axis("concat", axis, max(xs[0].ndim, 1), xs[0].shape)
    if xs[0].ndim == 0 or any(
        x.shape[:ax] + x.shape[ax + 1:] != xs[0].shape[:ax] + xs[0].shape[ax + 1:] for x in xs
    ):
        raise ValueError(f"concat: shapes {[x.shape for x in xs]} differ outside axis {axis}")
    return one(Concat(axis=ax), *_promote(xs))


@traceable
def stack(inps: Iterable[Tensor], axis: int = 0, device: str | None = None) -> Tensor:
    """Join same-shape tensors along a new axis.

    Example:
        >>> F.stack([F.zeros(3), F.ones(3)], axis=1).shape
        (3, 2)
    """
    xs = _tensor_list("stack", inps)
    if len({x.shape for x in xs}) != 1:
        raise ValueError(f"stack: tensors must share one shape, got {[x.shape for x in xs]}")
    ax = check_axis("stack", axis, xs[0].ndim + 1, xs[0].shape)
    return concat([add_axes(x, [ax]) for x in xs], ax, device)


@traceable
def split(inp: Tensor, nsplits_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Split into ``n`` near-equal parts (the first ones larger) or at the given indices.

    Example:
        >>> [t.shape for t in F.split(F.zeros(10), 3)]
        [(4,), (3,), (3,)]
        >>> [t.shape for t in F.split(F.zeros((2, 10)), [2, 5], axis=1)]
        [(2, 2), (2, 3), (2, 5)]
    """
    x = to_tensor("split", inp)
    ax = check_axis("split", axis, x.ndim, x.shape)
    total = x.shape[ax]
    if isinstance(nsplits_or_sections, (Sequence, np.ndarray)):
        points = list(shape_tuple("split", nsplits_or_sections, "sections"))
        if points != sorted(points) or any(not 0 <= p <= total for p in points):
            # MegEngine's exact message (sections must ascend within the axis length)
            raise ValueError(f"Invalid nsplits_or_secions: {points}")
        bounds = [0, *points, total]
    else:
        n = shape_tuple("split", nsplits_or_sections, "nsplits")[0]
        if not 0 < n <= max(total, 1):
            raise ValueError(f"split: cannot split axis {axis} of shape {x.shape} into {n}")
        size, extra = divmod(total, n)
        bounds = [k * size + min(k, extra) for k in range(n + 1)]
    return [slice_axis(x, ax, b, e) for b, e in zip(bounds[:-1], bounds[1:], strict=True)]


@traceable
def repeat(inp: Tensor, repeats: int, axis: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times along ``axis`` (flattened when None);
    ``repeats`` may be a one-element integer Tensor, as in MegEngine.

    Example:
        >>> F.repeat(mge.tensor([[1, 2], [3, 4]]), 2, axis=1).numpy()
        array([[1, 1, 2, 2],
               [3, 3, 4, 4]], dtype=int32)
    """
    x = to_tensor("repeat", inp)
    count = repeats  # a Tensor stays in a traced graph: it may change between calls
    if isinstance(repeats, Tensor) and repeats.size == 1 and repeats.dtype.kind in "iu":
        repeats = int(repeats.item())
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 0:
        raise ValueError(f"repeat: repeats must be a non-negative int, got {repeats!r}")
    if axis is None:
        x, ax = reshape(x, (-1,)), 0
    else:
        ax = check_axis("repeat", axis, x.ndim, x.shape)
    s = x.shape
    expanded = reshape(x, s[:ax + 1] + (1,) + s[ax + 1:])
    if isinstance(count, Tensor) and observing():
        wide = broadcast_to(expanded, [*s[:ax + 1], count, *s[ax + 1:]])
        return reshape(wide, [*s[:ax], count * s[ax], *s[ax + 1:]])
    wide = broadcast_to(expanded, s[:ax + 1] + (int(repeats),) + s[ax + 1:])
    return reshape(wide, s[:ax] + (s[ax] * int(repeats),) + s[ax + 1:])


@traceable
def tile(inp: Tensor, reps: Iterable[int]) -> Tensor:
    """Repeat the whole tensor ``reps[i]`` times along each axis (numpy's ``tile``).

    Example:
        >>> F.tile(F.zeros((2, 3)), (2, 1, 2)).shape
        (2, 2, 6)
    """
    x = to_tensor("tile", inp)
    r = shape_tuple("tile", reps, "reps")
    if any(v < 0 for v in r):
        raise ValueError(f"tile: reps must be non-negative, got {r}")
    ndim = max(len(r), x.ndim)
    r = (1,) * (ndim - len(r)) + r
    s = (1,) * (ndim - x.ndim) + x.shape
    interleaved = reshape(x, tuple(v for d in s for v in (1, d)))
    wide = broadcast_to(interleaved, tuple(v for pair in zip(r, s, strict=True) for v in pair))
    return reshape(wide, tuple(a * b for a, b in zip(r, s, strict=True)))


@traceable
def roll(inp: Tensor, shift: int | Iterable[int], axis: int | Iterable[int] | None = None
         ) -> Tensor:
    """Roll elements along ``axis`` (the flattened tensor when None) by ``shift``.

    Example:
        >>> F.roll(mge.tensor([1, 2, 3, 4]), 1).numpy()
        array([4, 1, 2, 3], dtype=int32)
    """
    x = to_tensor("roll", inp)
    out = reshape(x, (-1,)) if axis is None else x
    shifts = shape_tuple("roll", shift, "shift")
    axes = [0] * len(shifts) if axis is None else list(shape_tuple("roll", axis, "axis"))
    if len(shifts) != len(axes):
        raise ValueError(f"roll: shift {shift!r} and axis {axis!r} differ in length")
    for s, a in zip(shifts, axes, strict=True):
        ax = check_axis("roll", a, out.ndim, out.shape)
        size = out.shape[ax]
        k = s % size if size else 0
        if k:
            out = concat([slice_axis(out, ax, size - k, size), slice_axis(out, ax, 0, size - k)],
                         ax)
    return reshape(out, x.shape) if axis is None else out


@traceable
def copy(inp: Tensor, device: str | None = None) -> Tensor:
    """A copy of ``inp`` (on ``device`` when given): an index-free ``Subtensor``, which
    keeps no shape in a traced graph.

    Example:
        >>> F.copy(mge.tensor([1, 2])).numpy()
        array([1, 2], dtype=int32)
    """
    x = to_tensor("copy", inp)
    out = one(Subtensor(items=()), x)
    if device is not None:
        out._place(device)
    return out


# ----------------------------------------------------------------------------- selection
@traceable
def where(mask: Tensor, x: Any, y: Any) -> Tensor:
    """``x`` where ``mask`` is true, else ``y`` (broadcast together; dtypes promoted).

    Built like MegEngine's: ``SWITCH_GT0(m, x) + SWITCH_GT0(1 - m, y)`` with ``m`` the
    mask converted to the result dtype, so values not selected never leak (no ``inf*0``).

    Example:
        >>> m = mge.tensor([True, False])
        >>> F.where(m, mge.tensor([1.0, 2.0]), mge.tensor([5.0, 6.0])).numpy()
        array([1., 6.], dtype=float32)
    """
    m = to_tensor("where", mask, "mask")
    if m.dtype != np.bool_:
        raise ValueError(f"where: mask must be bool, got {m.dtype}")
    a = to_tensor("where", x, "x") if not isinstance(x, (int, float, bool)) else x
    b = to_tensor("where", y, "y") if not isinstance(y, (int, float, bool)) else y
    shapes = [t.shape for t in (m, a, b) if isinstance(t, Tensor)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"where: shapes {shapes} (mask, x, y) do not broadcast") from None
    dt = result_dtype(*(t.dtype if isinstance(t, Tensor) else t for t in (a, b)))
    if dt == np.bool_:
        return logical_or(logical_and(m, a), logical_and(logical_not(m), b))
    mc = astype(m, dt)
    return elemwise("ADD", elemwise("SWITCH_GT0", mc, a), elemwise("SWITCH_GT0", sub(1, mc), b))


def _gather_indices(fn: str, x: Tensor, axis: int, index: Any) -> tuple[tuple, list[Tensor]]:
    """Check ``index`` against ``x`` and build one index tensor per axis (for gather/scatter)."""
    idx = to_tensor(fn, index, "index")
    if idx.dtype.kind not in "iu" or idx.ndim != x.ndim:
        raise ValueError(f"{fn}: index must be an integer tensor with the input's ndim, got "
                         f"{idx.dtype}{list(idx.shape)} for input shape {x.shape}")
    ax = check_axis(fn, axis, x.ndim, x.shape)
    if any(i != ax and n > d for i, (n, d) in enumerate(zip(idx.shape, x.shape, strict=True))):
        raise ValueError(f"{fn}: index shape {idx.shape} exceeds input shape {x.shape} "
                         f"outside axis {axis}")
    values = idx.numpy()
    if values.size and not (-x.shape[ax] <= values.min() and values.max() < x.shape[ax]):
        raise IndexError(f"{fn}: index values must be in [0, {x.shape[ax]}) for axis {axis} "
                         f"of shape {x.shape}")
    grids = []
    for i, n in enumerate(idx.shape):
        shape = [1] * idx.ndim
        shape[i] = n
        grids.append(astype(idx, "int32") if i == ax
                     else Tensor(np.arange(n, dtype=np.int32).reshape(shape)))
    return idx.shape, grids


def _all_axes(ndim: int) -> tuple:
    return tuple((i, None, None, None, True) for i in range(ndim))


@traceable
def gather(inp: Tensor, axis: int, index: Tensor) -> Tensor:
    """``out[i][j] = inp[index[i][j]][j]`` for ``axis == 0`` (and so on for other axes).

    Example:
        >>> F.gather(mge.tensor([[1, 2], [3, 4]]), 1, mge.tensor([[1], [0]])).numpy()
        array([[2],
               [3]], dtype=int32)
    """
    x = to_tensor("gather", inp)
    _, grids = _gather_indices("gather", x, axis, index)
    return one(IndexingMultiAxisVec(items=_all_axes(x.ndim)), x, *grids)


@traceable
def scatter(inp: Tensor, axis: int, index: Tensor, source: Tensor) -> Tensor:
    """Write ``source`` into ``inp`` at ``index`` along ``axis`` (the inverse of gather).

    Like MegEngine's, ``inp`` itself is updated, and returned.

    Example:
        >>> x = F.zeros((2, 2))
        >>> F.scatter(x, 1, mge.tensor([[1], [0]]), mge.tensor([[5.0], [6.0]])).numpy()
        array([[0., 5.],
               [6., 0.]], dtype=float32)
    """
    x = to_tensor("scatter", inp)
    src = to_tensor("scatter", source, "source")
    shape, grids = _gather_indices("scatter", x, axis, index)
    if src.shape != shape:
        raise ValueError(f"scatter: source shape {src.shape} must equal index shape {shape}")
    out = one(IndexingSetMultiAxisVec(items=_all_axes(x.ndim)), x, astype(src, x.dtype), *grids)
    x.set_value(out)
    return x


__all__ = [
    "arange", "broadcast_to", "concat", "copy", "expand_dims", "eye", "flatten", "full",
    "full_like", "gather", "linspace", "ones", "ones_like", "repeat", "reshape", "roll",
    "scatter", "split", "squeeze", "stack", "swapaxes", "tile", "transpose", "where", "zeros",
    "zeros_like",
]
