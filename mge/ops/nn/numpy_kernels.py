"""numpy kernels: ``MatrixMul``, ``BatchedMatrixMul``, ``BatchNormForward``, ``SoftmaxForward``.

float16 inputs are computed in float32 and rounded once at the end.
"""

from __future__ import annotations

import numpy as np

from ..registry import NUMPY
from . import BatchedMatrixMul, BatchNormForward, MatrixMul, SoftmaxForward, bn_reduce_axes


@NUMPY.kernel(MatrixMul, BatchedMatrixMul)
def matrix_mul(op: MatrixMul, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a32, b32 = a.astype(np.float32, copy=False), b.astype(np.float32, copy=False)
    if op.transposeA:
        a32 = a32.swapaxes(-1, -2)
    if op.transposeB:
        b32 = b32.swapaxes(-1, -2)
    return np.ascontiguousarray(a32 @ b32, dtype=a.dtype)


@NUMPY.kernel(BatchNormForward)
def batch_norm(
    op: BatchNormForward, x: np.ndarray, scale: np.ndarray, bias: np.ndarray,
    *stats: np.ndarray,
) -> tuple[np.ndarray, ...]:
    pdtype, pshape = scale.dtype, scale.shape
    axes = bn_reduce_axes(pshape, x.ndim)
    view = pshape[: x.ndim]
    xf = x.astype(np.float32, copy=False)
    empty = np.zeros((0,), pdtype)
    running = (empty, empty)
    with np.errstate(divide="ignore", invalid="ignore"):
        if op.fwd_mode == "INFERENCE":
            mean = stats[0].astype(np.float32).reshape(view)
            inv_std = 1.0 / np.sqrt(stats[1].astype(np.float32).reshape(view) + op.epsilon)
        else:
            mean = xf.mean(axis=axes, keepdims=True)
            var = np.square(xf - mean).mean(axis=axes, keepdims=True)
            inv_std = 1.0 / np.sqrt(var + op.epsilon)
            if op.needs_stats(3 + len(stats)):
                count = x.size // max(int(np.prod(view)), 1)
                unbiased = var * count / (count - 1)
                f = op.avg_factor
                running = tuple(
                    ((1 - f) * s.astype(np.float32) + f * new.reshape(pshape)).astype(pdtype)
                    for s, new in zip(stats, (mean, unbiased), strict=True)
                )
        y = (xf - mean) * inv_std * scale.reshape(view) + bias.reshape(view)
    save = (mean.reshape(pshape).astype(pdtype), inv_std.reshape(pshape).astype(pdtype))
    return (*running, *save, np.zeros((0,), np.uint8), np.ascontiguousarray(y, dtype=x.dtype))


@NUMPY.kernel(SoftmaxForward)
def softmax(op: SoftmaxForward, x: np.ndarray) -> np.ndarray:
    xf = x.astype(np.float32, copy=False)
    e = np.exp(xf - xf.max(axis=op.axis, keepdims=True))
    return np.ascontiguousarray(e / e.sum(axis=op.axis, keepdims=True), dtype=x.dtype)
