"""Reductions, searching and sorting (MegEngine ``F.math``): sum, mean, max, min, prod,
argmax, argmin, topk, argsort, sort, norm, var, std, normalize, dot, and matmul (which
``F.nn`` re-exports, as MegEngine's does).

Reductions build MegEngine's graphs: one ``Reduce`` per axis (which keeps the axis as
size 1), followed by ``AxisAddRemove`` unless ``keepdims``; several axes are reduced
from the last one down. ``mean`` of a non-float32 tensor first converts it to float32,
and bool tensors are summed as int32, as in MegEngine.

Example:
    >>> import mge, mge.functional as F
    >>> x = mge.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> F.sum(x, axis=0).numpy()
    array([4., 6.], dtype=float32)
    >>> F.argmax(x, axis=1).numpy()
    array([1, 1], dtype=int32)
"""

from __future__ import annotations

import math as _pymath
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.apply import apply
from ..core.opdef import OpError
from ..core.tensor import amp as amp_state
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..dtype import float32, int32, is_quantize, result_dtype
from ..ops.nn import SVD, BatchedMatrixMul, MatrixInverse, MatrixMul
from ..ops.reduce import Argmax, Argmin, ArgsortForward, Cumsum, Reduce, TopK
from ..ops.shape import Diag, Reshape, Subtensor
from ._args import (
    add_axes,
    autocast_inputs,
    check_axes,
    check_axis,
    float_tensor,
    one,
    option,
    remove_axes,
    to_tensor,
)
from ._shape_source import reshape_to_dims
from .elemwise import abs as _abs
from .elemwise import astype, clip, div, equal, mul, not_equal
from .elemwise import pow as _pow
from .tensor import broadcast_to, reshape

Axis = int | Sequence[int] | None


def _reduce(fn: str, mode: str, inp: Any, axis: Axis, keepdims: bool) -> Tensor:
    x = to_tensor(fn, inp)
    if mode == "MEAN" and x.dtype != float32:
        x = astype(x, float32)
    elif x.dtype == np.bool_:
        x = astype(x, int32)
    if axis is None:
        if mode in ("MIN", "MAX") and x.size == 0:
            raise ValueError(f"{fn}: cannot reduce the empty tensor of shape {x.shape}")
        out = one(Reduce(mode=mode, data_type="DEFAULT"), x)
        return one(Reshape(shape=(1,) * x.ndim), out) if keepdims else out
    axes = check_axes(fn, axis, x.ndim, x.shape, repeated=AssertionError)
    if mode in ("MIN", "MAX") and any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{fn}: cannot reduce an empty axis of shape {x.shape} ({axis=})")
    if isinstance(axis, int):
        axes = [axis]
    for a in sorted(axes, reverse=True):
        x = one(Reduce(mode=mode, axis=a), x)
        if not keepdims:
            x = remove_axes(x, [a])
    return x


def _reduction(mode: str, name: str, what: str):  # noqa: ANN202
    def fn(inp: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return _reduce(name, mode, inp, axis, keepdims)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""The {what} of the elements over ``axis`` (an int, a sequence, or None: all).

    ``keepdims`` keeps the reduced axes with size 1.

    Example:
        >>> F.{name}(mge.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=-1).shape
        (2,)
    """
    return traceable(fn)


sum = _reduction("SUM", "sum", "sum")  # noqa: A001 - MegEngine name
mean = _reduction("MEAN", "mean", "mean (float32)")
prod = _reduction("PRODUCT", "prod", "product")
max = _reduction("MAX", "max", "maximum")  # noqa: A001 - MegEngine name
min = _reduction("MIN", "min", "minimum")  # noqa: A001 - MegEngine name


def _arg_reduce(fn: str, op_cls: type, inp: Any, axis: Axis, keepdims: bool) -> Tensor:
    x = to_tensor(fn, inp)
    if x.dtype == np.bool_:
        x = astype(x, int32)
    if axis is None:
        if x.size == 0:
            raise ValueError(f"{fn}: cannot search the empty tensor of shape {x.shape}")
        out = one(op_cls(axis=0), one(Reshape(shape=(-1,)), x))
        return one(Reshape(shape=(1,) * x.ndim if keepdims else ()), out)
    axes = check_axes(fn, axis, x.ndim, x.shape)
    if any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{fn}: cannot search an empty axis of shape {x.shape} ({axis=})")
    for a in sorted(axes, reverse=True) if not isinstance(axis, int) else [axis]:
        x = one(op_cls(axis=a), x)
        if not keepdims:
            x = remove_axes(x, [a])
    return x


@traceable
def argmax(inp: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Index (int32) of the first maximum along ``axis`` (of the flattened tensor if None).

    Example:
        >>> F.argmax(mge.tensor([[1, 5], [7, 2]])).item()
        2
    """
    return _arg_reduce("argmax", Argmax, inp, axis, keepdims)


@traceable
def argmin(inp: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Index (int32) of the first minimum along ``axis`` (of the flattened tensor if None).

    Example:
        >>> F.argmin(mge.tensor([[1, 5], [7, 2]]), axis=0).numpy()
        array([0, 1], dtype=int32)
    """
    return _arg_reduce("argmin", Argmin, inp, axis, keepdims)


def _rows(fn: str, inp: Any) -> Tensor:
    x = to_tensor(fn, inp)
    if x.ndim not in (1, 2):
        raise ValueError(f"{fn}: input must be 1-d or 2-d, got shape {x.shape}")
    if x.dtype == np.bool_:
        raise TypeError(f"{fn}: cannot sort a bool tensor")
    return x


@traceable
def topk(inp: Tensor, k: int | Tensor, descending: bool = True, kth_only: bool = False,
         no_sort: bool = False) -> tuple[Tensor, Tensor]:
    """The ``k`` largest (``descending``, the default) or smallest values of each row of a
    1-d or 2-d tensor, and their int32 indices.

    ``kth_only`` returns only the k-th value (and its index); ``no_sort`` allows any order.
    A ``k`` larger than a row is clamped to the row length, as in MegEngine; ``k`` may be an
    int tensor of one value (YOLOX's dynamic k).

    Example:
        >>> v, i = F.topk(mge.tensor([2.0, 8.0, 6.0, 1.0]), 2)
        >>> v.numpy(), i.numpy()
        (array([8., 6.], dtype=float32), array([1, 2], dtype=int32))
    """
    x = _rows("topk", inp)
    n = x.shape[-1]
    if isinstance(k, Tensor):  # an int tensor of one value, as MegEngine takes it
        if k.dtype.kind not in "iu" or k.size != 1:
            raise ValueError(f"topk: a tensor k must hold one integer, got {k.dtype} "
                             f"{k.shape}")
        k = int(k.item())
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 < k:
        raise ValueError(f"topk: k must be a positive int for shape {x.shape}, got {k!r}")
    k = n if k > n else int(k)
    mode = "KTH_ONLY" if kth_only else "VALUE_IDX_NOSORT" if no_sort else "VALUE_IDX_SORTED"
    op = TopK(mode=mode, k=-int(k) if descending else int(k))
    rows = add_axes(x, [0]) if x.ndim == 1 else x
    if kth_only:
        values = one(op, rows)
        hits = astype(equal(add_axes(values, [1]), rows), "int8")
        index = remove_axes(one(Argmax(axis=1), hits), [1])
    else:
        values, index = apply(op, rows)
    if x.ndim == 1:
        values, index = remove_axes(values, [0]), remove_axes(index, [0])
    return values, index


def _sort(fn: str, inp: Any, descending: bool) -> tuple[Tensor, Tensor]:
    x = _rows(fn, inp)
    op = ArgsortForward(order="DESCENDING" if descending else "ASCENDING")
    if x.ndim == 2:
        values, index = apply(op, x)
        return values, index
    pick = Subtensor(items=((0, None, None, None, 0),))
    values, index = apply(op, one(Reshape(shape=(1, -1)), x))
    return one(pick, values), one(pick, index)


@traceable
def argsort(inp: Tensor, descending: bool = False) -> Tensor:
    """Indices (int32) that sort a 1-d tensor, or each row of a 2-d one (stable).

    Example:
        >>> F.argsort(mge.tensor([3.0, 1.0, 2.0])).numpy()
        array([1, 2, 0], dtype=int32)
    """
    return _sort("argsort", inp, descending)[1]


@traceable
def sort(inp: Tensor, descending: bool = False) -> tuple[Tensor, Tensor]:
    """Sorted values and their int32 indices, for a 1-d tensor or each row of a 2-d one.

    Example:
        >>> F.sort(mge.tensor([3.0, 1.0, 2.0]))[0].numpy()
        array([1., 2., 3.], dtype=float32)
    """
    return _sort("sort", inp, descending)


@traceable
def norm(inp: Tensor, ord: float | None = None, axis: int | None = None,  # noqa: A002
         keepdims: bool = False) -> Tensor:
    """The vector ``ord``-norm along ``axis`` (2 by default; ``inf``/``-inf``: max/min of
    ``|x|``; 0: count of non-zeros). ``axis`` may be None only for 1-d input.

    Example:
        >>> F.norm(mge.tensor([3.0, 4.0])).item()
        5.0
    """
    x = to_tensor("norm", inp)
    if axis is None and x.ndim != 1:
        raise TypeError(f"norm: axis is required unless the input is a vector (shape {x.shape})")
    if axis is not None:
        check_axis("norm", axis, x.ndim, x.shape)
    p = 2 if ord is None else ord
    if p == 0:
        return sum(not_equal(x, 0), axis=axis, keepdims=keepdims)
    if p in (_pymath.inf, -_pymath.inf):
        return (max if p > 0 else min)(_abs(x), axis=axis, keepdims=keepdims)
    if p == 2:
        total = _reduce("norm", "SUM_SQR", _abs(x), axis, keepdims)
    else:
        total = sum(_pow(_abs(x), p), axis=axis, keepdims=keepdims)
    return _pow(total, 1.0 / p)


@traceable
def normalize(inp: Tensor, ord: float | None = None, axis: int | None = None,  # noqa: A002
              eps: float = 1e-12) -> Tensor:
    """``inp / max(norm(inp, ord, axis), eps)``.

    Example:
        >>> F.normalize(mge.tensor([3.0, 4.0])).numpy()
        array([0.6, 0.8], dtype=float32)
    """
    return div(inp, clip(norm(inp, ord, axis, keepdims=axis is not None), lower=eps))


@traceable
def var(inp: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Variance (mean of squared deviations) over ``axis``.

    Example:
        >>> F.var(mge.tensor([1.0, 2.0, 3.0, 4.0])).item()
        1.25
    """
    m = mean(inp, axis=axis, keepdims=axis is not None)
    dev = to_tensor("var", inp) - m
    return mean(dev * dev, axis=axis, keepdims=keepdims)


@traceable
def std(inp: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Standard deviation over ``axis``.

    Example:
        >>> round(F.std(mge.tensor([1.0, 2.0, 3.0, 4.0])).item(), 4)
        1.118
    """
    return _pow(var(inp, axis=axis, keepdims=keepdims), 0.5)


@traceable
def dot(inp1: Tensor, inp2: Tensor) -> Tensor:
    """Dot product of two vectors (a 0-d or 1-element input broadcasts).

    Example:
        >>> F.dot(mge.tensor([1.0, 2.0]), mge.tensor([3.0, 4.0])).item()
        11.0
    """
    a, b = to_tensor("dot", inp1, "inp1"), to_tensor("dot", inp2, "inp2")
    if a.ndim > 1 or b.ndim > 1 or (a.size != b.size and 1 not in (a.size, b.size)):
        raise ValueError(f"dot: needs two vectors of one length, got {a.shape} and {b.shape}")
    return sum(mul(a, b))


@traceable
def matmul(
    inp1: Tensor, inp2: Tensor, transpose_a: bool = False, transpose_b: bool = False,
    compute_mode: str = "default",
) -> Tensor:
    """Matrix product with MegEngine's rules for 1-d, 2-d and batched (n-d) operands.

    1-d operands become a row (left) or column (right) vector whose axis is removed from
    the result. If the right operand is at most 2-d (and ``transpose_a`` is False) the
    left one's leading dims are flattened into one ``MatrixMul``; otherwise the
    lower-rank operand is broadcast with the other's batch dims and a
    ``BatchedMatrixMul`` runs. Operands of equal rank must have equal batch dims.

    Quantized operands (two ``QuantizedS8``) multiply as integers into a ``QuantizedS32``
    result whose scale is the product of theirs.

    Raises:
        TypeError: non-float operands that are not both quantized.
        ValueError: 0-d operands, inner sizes or batch dims that do not match.

    Example:
        >>> a = mge.tensor(np.ones((2, 3, 4), np.float32))
        >>> F.matmul(a, mge.tensor(np.ones((4, 5), np.float32))).shape
        (2, 3, 5)
    """
    fn = "matmul"
    a, b = _matmul_operands(fn, inp1, inp2)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{fn}: operands must be at least 1-d, got {a.shape} and {b.shape}")
    if not (is_quantize(a.dtype) or is_quantize(b.dtype)):
        dt = result_dtype(a.dtype, b.dtype)
        a, b = autocast_inputs(astype(a, dt), astype(b, dt))
        if amp_state._enabled:
            compute_mode = "float32"
    dim1, dim2 = a.ndim, b.ndim
    if dim1 == 1:
        a = reshape(a, (1, a.shape[0]))
    if dim2 == 1:
        b = reshape(b, (b.shape[0], 1))
    ka = a.shape[-2] if transpose_a else a.shape[-1]
    kb = b.shape[-1] if transpose_b else b.shape[-2]
    if ka != kb:  # a ValueError, and a RuntimeError as MegEngine's
        raise OpError(
            f"{fn}: inner sizes differ ({ka} vs {kb}) for shapes {inp1.shape} and {inp2.shape} "
            f"(transpose_a={transpose_a}, transpose_b={transpose_b})"
        )
    params = {"transposeA": bool(transpose_a), "transposeB": bool(transpose_b),
              "compute_mode": option(fn, "compute_mode", compute_mode, ("DEFAULT", "FLOAT32"))}
    if (dim1 <= 2 and dim2 <= 2) or (dim2 <= 2 and not transpose_a):
        # leading dims: -1 when flattened, read back from ``a`` (they follow a traced
        # graph's input sizes)
        head = a.shape[:-1]
        flat = a if a.ndim == 2 else reshape_to_dims(a, [_flat_size(head), (a, -1)])
        out = apply(MatrixMul(**params), flat, b)[0]
        if a.ndim > 2:
            out = reshape_to_dims(out, [*((a, i) for i in range(a.ndim - 1)),
                                        (b, -2 if transpose_b else -1)])
    else:
        if a.ndim < b.ndim:
            a = broadcast_to(a, b.shape[: b.ndim - a.ndim] + a.shape)
        elif b.ndim < a.ndim:
            b = broadcast_to(b, a.shape[: a.ndim - b.ndim] + b.shape)
        batch = a.shape[:-2]
        if b.shape[:-2] != batch:
            raise ValueError(f"{fn}: batch dims differ for shapes {inp1.shape} and {inp2.shape}")
        batched = (a, b)
        if len(batch) > 1:
            a = reshape_to_dims(a, [_flat_size(batch), (a, -2), (a, -1)])
            b = reshape_to_dims(b, [_flat_size(batch), (b, -2), (b, -1)])
        out = apply(BatchedMatrixMul(**params), a, b)[0]
        if len(batch) > 1:
            a, b = batched
            out = reshape_to_dims(out, [*((a, i) for i in range(len(batch))),
                                        (a, -1 if transpose_a else -2),
                                        (b, -2 if transpose_b else -1)])
    if dim1 == 1 or dim2 == 1:
        shape = out.shape[:-2] + out.shape[-2:][dim1 == 1: 2 - (dim2 == 1)]
        out = reshape(out, shape)
    return out


def _matmul_operands(fn: str, inp1: Any, inp2: Any) -> tuple[Tensor, Tensor]:
    """The operands as Tensors: float ones, or quantized ones kept as they are (two
    ``QuantizedS8`` give ``QuantizedS32`` with the product of their scales, as MegEngine;
    the op rejects other quantized pairs, naming both dtypes)."""
    a, b = to_tensor(fn, inp1, "inp1"), to_tensor(fn, inp2, "inp2")
    if is_quantize(a.dtype) or is_quantize(b.dtype):
        return a, b
    return float_tensor(fn, "inp1", a), float_tensor(fn, "inp2", b)


def _flat_size(dims: tuple[int, ...]) -> int:
    """The merged size of ``dims`` as a reshape entry: -1 (inferred, so a traced graph
    follows other sizes) unless it is 0 (-1 cannot be inferred for an empty tensor)."""
    return -1 if _pymath.prod(dims) else 0


@traceable
def cumsum(inp: Tensor, axis: int) -> Tensor:
    """Inclusive cumulative sum along ``axis`` (``Cumsum``); the dtype is kept.

    Example:
        >>> F.cumsum(mge.tensor([[1, 2, 3], [4, 5, 6]]), -1).numpy()
        array([[ 1,  3,  6],
               [ 4,  9, 15]], dtype=int32)
    """
    x = to_tensor("cumsum", inp)
    ax = check_axis("cumsum", axis, x.ndim, x.shape)
    return one(Cumsum(axis=ax, exclusive=False, reverse=False), x)


@traceable
def diag(inp: Tensor, k: int = 0) -> Tensor:
    """The ``k``-th diagonal of a 2-d tensor, or the square matrix with a 1-d tensor on its
    ``k``-th diagonal (``Diag``; as ``numpy.diag``).

    Example:
        >>> F.diag(mge.tensor([1, 2])).numpy()
        array([[1, 0],
               [0, 2]], dtype=int32)
    """
    x = to_tensor("diag", inp)
    if x.ndim not in (1, 2):
        raise ValueError(f"diag: input must be 1-d or 2-d, got shape {x.shape}")
    return one(Diag(k=int(k)), x)


@traceable
def matinv(inp: Tensor) -> Tensor:
    """The inverse of each square matrix of a ``(..., n, n)`` float tensor (``MatrixInverse``).

    Raises:
        ValueError: an input that is not batches of square matrices, or (when it runs) a
            singular matrix.

    Example:
        >>> F.matinv(mge.tensor([[2.0, 0.0], [0.0, 4.0]])).numpy()
        array([[0.5 , 0.  ],
               [0.  , 0.25]], dtype=float32)
    """
    x = float_tensor("matinv", "inp", inp)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"matinv: input must be batches of square matrices, got {x.shape}")
    return one(MatrixInverse(), x)


@traceable
def svd(inp: Tensor, full_matrices: bool = False,
        compute_uv: bool = True) -> tuple[Tensor, Tensor, Tensor] | Tensor:
    """Singular value decomposition ``inp = U @ diag(S) @ Vh`` of each matrix of a
    ``(..., M, N)`` float32 tensor (``SVD``): ``U (..., M, K)``, ``S (..., K)`` descending,
    ``Vh (..., K, N)``, ``K = min(M, N)``, with MegEngine's CPU signs of the singular vectors.

    Returns ``(U, S, Vh)``, or ``S`` alone without ``compute_uv``.

    Raises:
        ValueError: an input that is not float32 batches of matrices, or ``full_matrices``
            with ``compute_uv`` (MegEngine's CPU kernel refuses it too).

    Example:
        >>> u, s, vh = F.svd(mge.tensor([[0.0, 2.0], [3.0, 0.0]]))
        >>> s.numpy().round(4)
        array([3., 2.], dtype=float32)
    """
    x = to_tensor("svd", inp)
    outs = apply(SVD(full_matrices=bool(full_matrices), compute_uv=bool(compute_uv)), x)
    return tuple(outs) if compute_uv else outs[1]


__all__ = [
    "argmax", "argmin", "argsort", "cumsum", "diag", "dot", "matinv", "matmul", "max", "mean",
    "min",
    "norm", "normalize", "prod", "sort", "std", "sum", "svd", "topk", "var",
]
