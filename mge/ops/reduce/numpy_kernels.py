"""numpy kernels for Reduce, Argmax, Argmin, TopK and ArgsortForward.

Floats are reduced in float32 (float16 and bfloat16 too), integers in int64 and then wrapped to the
output dtype; sorting is stable, also in descending order.
"""

from __future__ import annotations

import numpy as np

from ...core.opdef import TensorInfo, normalize_axis
from ...dtype import is_float
from .. import reduce as R
from ..registry import NUMPY

_REDUCERS = {"SUM": np.sum, "SUM_SQR": np.sum, "MEAN": np.sum, "PRODUCT": np.prod,
             "MIN": np.min, "MAX": np.max}


def _axis(op: R.Reduce | R.Argmax, x: np.ndarray) -> int | None:
    return None if op.axis == R.REDUCE_ALL else normalize_axis(op, op.axis, x.ndim)


@NUMPY.kernel(R.Reduce)
def reduce(op: R.Reduce, x: np.ndarray) -> np.ndarray:
    out_dtype = op.infer([TensorInfo(x.shape, x.dtype)])[0].dtype
    axis = _axis(op, x)
    work = x.astype(np.float32 if is_float(x.dtype) else np.int64)
    if op.mode == "SUM_SQR":
        work = work * work
    out = _REDUCERS[op.mode](work, axis=axis, keepdims=axis is not None)
    if op.mode == "MEAN":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.true_divide(out, x.size if axis is None else x.shape[axis])
    return np.asarray(out).astype(out_dtype)


@NUMPY.kernel(R.Argmax, R.Argmin)
def arg_reduce(op: R.Argmax, x: np.ndarray) -> np.ndarray:
    fn = np.argmax if isinstance(op, R.Argmax) else np.argmin
    return fn(x, axis=_axis(op, x), keepdims=True).astype(np.int32)


def _argsort_rows(x: np.ndarray, descending: bool) -> np.ndarray:
    """Stable argsort of each row; descending is the ascending order reversed, so equal
    values come last index first (MegEngine 1.13's order, checked on its CPU kernels)."""
    idx = np.argsort(x, axis=1, kind="stable")
    return idx[:, ::-1] if descending else idx


def _sorted_rows(x: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    idx = _argsort_rows(x, descending)
    return np.take_along_axis(x, idx, axis=1), idx.astype(np.int32)


@NUMPY.kernel(R.TopK)
def topk(op: R.TopK, x: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    values, idx = _sorted_rows(x, descending=op.k < 0)
    k = abs(op.k)
    if op.mode == "KTH_ONLY":
        return np.ascontiguousarray(values[:, k - 1])
    return np.ascontiguousarray(values[:, :k]), np.ascontiguousarray(idx[:, :k])


@NUMPY.kernel(R.ArgsortForward)
def argsort(op: R.ArgsortForward, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _sorted_rows(x, descending=op.order == "DESCENDING")


@NUMPY.kernel(R.Cumsum)
def cumsum(op: R.Cumsum, x: np.ndarray) -> np.ndarray:
    """Sequential sums in the input's dtype (integers wrap), as MegEngine's kernel."""
    axis = op.axis % x.ndim
    src = np.flip(x, axis) if op.reverse else x
    out = np.cumsum(src, axis=axis, dtype=x.dtype)
    if op.exclusive:  # shift by one along the axis: each sum leaves out its own element
        shifted = np.zeros_like(out)
        head = tuple(slice(1, None) if k == axis else slice(None) for k in range(x.ndim))
        tail = tuple(slice(None, -1) if k == axis else slice(None) for k in range(x.ndim))
        shifted[head] = out[tail]
        out = shifted
    return np.ascontiguousarray(np.flip(out, axis) if op.reverse else out)
