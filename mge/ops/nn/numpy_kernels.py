"""numpy kernels: ``MatrixMul``, ``BatchedMatrixMul``, ``BatchNormForward``, ``BatchNormBackward``,
``SoftmaxForward``.

float16 inputs are computed in float32 and rounded once at the end.
"""

from __future__ import annotations

import numpy as np

from ..registry import NUMPY
from . import (
    LRN,
    BatchedMatrixMul,
    BatchNormBackward,
    BatchNormForward,
    GeneralNorm,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    MatrixInverse,
    MatrixMul,
    SoftmaxForward,
    bn_reduce_axes,
)


@NUMPY.kernel(MatrixMul, BatchedMatrixMul)
def matrix_mul(op: MatrixMul, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a32, b32 = a.astype(np.float32, copy=False), b.astype(np.float32, copy=False)
    if op.transposeA:
        a32 = a32.swapaxes(-1, -2)
    if op.transposeB:
        b32 = b32.swapaxes(-1, -2)
    return np.ascontiguousarray(a32 @ b32, dtype=a.dtype)


@NUMPY.kernel(MatrixInverse)
def matrix_inverse(op: MatrixInverse, x: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(x).all(axis=(-2, -1))  # a NaN or Inf makes every entry undefined
    eye = np.eye(x.shape[-1])
    try:
        inv = np.linalg.inv(np.where(bad[..., None, None], eye, x.astype(np.float64)))
    except np.linalg.LinAlgError:
        raise op.singular() from None
    inv[bad] = np.nan
    return np.ascontiguousarray(inv, dtype=x.dtype)


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


@NUMPY.kernel(BatchNormBackward)
def batch_norm_backward(
    op: BatchNormBackward, x: np.ndarray, dy: np.ndarray, mean: np.ndarray, inv: np.ndarray,
    scale: np.ndarray, reserve: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pdtype, pshape = scale.dtype, scale.shape
    axes = bn_reduce_axes(pshape, x.ndim)
    view = pshape[: x.ndim]
    f32 = np.float32
    dyf = dy.astype(f32, copy=False)
    inv, scale = inv.astype(f32).reshape(view), scale.astype(f32).reshape(view)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        xhat = (x.astype(f32, copy=False) - mean.astype(f32).reshape(view)) * inv
        dbias = dyf.sum(axis=axes, keepdims=True)
        dscale = (dyf * xhat).sum(axis=axes, keepdims=True)
        if op.fwd_mode == "TRAINING":
            count = x.size // max(int(np.prod(view)), 1)
            dx = (dyf - dbias / count - xhat * (dscale / count)) * (scale * inv)
        else:
            dx = dyf * (scale * inv)
    return (dscale.reshape(pshape).astype(pdtype), dbias.reshape(pshape).astype(pdtype),
            np.ascontiguousarray(dx, dtype=x.dtype))


@NUMPY.kernel(SoftmaxForward)
def softmax(op: SoftmaxForward, x: np.ndarray) -> np.ndarray:
    xf = x.astype(np.float32, copy=False)
    e = np.exp(xf - xf.max(axis=op.axis, keepdims=True))
    return np.ascontiguousarray(e / e.sum(axis=op.axis, keepdims=True), dtype=x.dtype)


def _standardize(x: np.ndarray, groups: tuple[int, ...], eps: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x - mean) / sqrt(var + eps)`` over the last axis of ``x`` viewed as ``groups + (-1,)``
    (float32), with ``mean`` and the biased ``var`` of each group."""
    xf = x.astype(np.float32, copy=False).reshape(*groups, -1)
    mean = xf.mean(axis=-1, keepdims=True)
    var = np.square(xf - mean).mean(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (xf - mean) / np.sqrt(var + np.float32(eps))
    return y.reshape(x.shape), mean.reshape(groups), var.reshape(groups)


@NUMPY.kernel(LayerNorm)
def layer_norm(op: LayerNorm, x: np.ndarray, *affine: np.ndarray) -> tuple[np.ndarray, ...]:
    lead = x.shape[: x.ndim - op.normalized_dim]
    y, mean, var = _standardize(x, lead, op.eps)
    if affine:
        view = x.shape[len(lead):]
        y = y * affine[0].reshape(view) + affine[1].reshape(view)
    with np.errstate(divide="ignore"):
        rstd = (1.0 / np.sqrt(var + np.float32(op.eps))).astype(np.float32)
    return np.ascontiguousarray(y, dtype=x.dtype), mean, rstd


@NUMPY.kernel(GroupNorm, InstanceNorm)
def group_norm(op: GroupNorm, x: np.ndarray, *affine: np.ndarray) -> tuple[np.ndarray, ...]:
    n, c = x.shape[:2]
    y, mean, var = _standardize(x, (n, op.groups(c)), op.eps)
    if affine:
        y = y * affine[0].reshape(1, c, 1, 1) + affine[1].reshape(1, c, 1, 1)
    return np.ascontiguousarray(y, dtype=x.dtype), mean, var


@NUMPY.kernel(LRN)
def lrn(op: LRN, x: np.ndarray) -> np.ndarray:
    x32 = x.astype(np.float32)
    half = op.n // 2
    sq = np.pad(np.square(x32), ((0, 0), (half, half), (0, 0), (0, 0)))
    total = sum(sq[:, i: i + x.shape[1]] for i in range(op.n))
    scale = np.power(np.float32(op.k) + np.float32(op.alpha) * total, np.float32(-op.beta))
    return (x32 * scale).astype(x.dtype)


@NUMPY.kernel(GeneralNorm)
def general_norm(op: GeneralNorm, x: np.ndarray, *affine: np.ndarray) -> tuple[np.ndarray, ...]:
    axes = tuple(range(op.axis_start, op.axis_end))
    x32 = x.astype(np.float32)
    mean = x32.mean(axis=axes, keepdims=True, dtype=np.float32)
    centered = x32 - mean
    var = np.square(centered).mean(axis=axes, keepdims=True, dtype=np.float32)
    with np.errstate(divide="ignore"):
        rstd = (1.0 / np.sqrt(var + np.float32(op.eps))).astype(np.float32)
    y = centered * rstd
    if affine:
        view = op.param_view(x.ndim, x.shape)
        y = y * affine[0].reshape(view) + affine[1].reshape(view)
    rest = x.shape[: op.axis_start] + x.shape[op.axis_end:]
    return np.ascontiguousarray(y, dtype=x.dtype), mean.reshape(rest), rstd.reshape(rest)


from . import numpy_svd  # noqa: E402,F401 - SVD's kernel
