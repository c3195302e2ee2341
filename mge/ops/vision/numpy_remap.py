"""Kernels of ``WarpAffineForward`` and ``RemapForward`` (MegEngine 1.13 numerics).

``WarpAffineForward`` runs on MegEngine's two warp kernels (see ``mge.ops.vision``): the
*dnn* one is the perspective warp with the matrix row ``(0, 0, 1)`` (bit for bit, the
divisor is exactly 1), the *cv* one is OpenCV's ``warpAffine``: positions in fixed point
with 10 fractional bits (``cvRound`` of float64 products), then the same 1/32-pixel
remap as the perspective warp. ``RemapForward`` follows ``dnn/src/naive/remap``: float32
bilinear weights, nearest rounds half to even, integer outputs rounded half away from 0.

Example:
    >>> from mge.ops.vision.remap import RemapForward
    >>> src = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> grid = np.array([[[[1.5, 0.5]]]], np.float32)
    >>> remap(NUMPY_OPS, RemapForward(format="NCHW"), src, grid)
    array([[[[3.5]]]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.opdef import TensorInfo
from ..registry import NUMPY
from . import WarpPerspectiveForward, warp_uses_cv_kernel
from .numpy_kernels import (
    INT_MAX,
    INT_MIN,
    NUMPY_OPS,
    ArrayOps,
    _batch_index,
    _from_nhwc,
    _round_to,
    _Sampler,
    _to_int,
    _to_nhwc,
    _warp_cv,
    _warp_dnn,
    border_index,
)
from .remap import RemapForward, WarpAffineForward

AB_BITS = 10  # cv warpAffine: positions in fixed point with this many fractional bits


def _affine_positions(ops: ArrayOps, op: WarpPerspectiveForward, mat: Any, like: Any,
                      scale: float) -> tuple[Any, Any]:
    """OpenCV's ``warpAffine`` positions in units of ``1 / scale`` pixel (int64)."""
    height, width = op.dsize
    shift = AB_BITS - int(np.log2(scale))
    delta = (1 << AB_BITS) // int(scale) // 2
    m = [ops.cast(mat[:, k // 3, k % 3], ops.float64)[:, None, None] for k in range(6)]
    x = ops.from_numpy(np.arange(width, dtype=np.float64)[None, None, :], like)
    y = ops.from_numpy(np.arange(height, dtype=np.float64)[None, :, None], like)

    def fixed(v: Any) -> Any:  # saturate_cast<int>(double): cvRound, clamped to int
        v = ops.where(ops.isnan(v), 0.0, ops.clip(v, INT_MIN, INT_MAX))
        return ops.cast(ops.rint(v), ops.int64)

    out = []
    for row in (0, 3):
        origin = fixed((m[row + 1] * y + m[row + 2]) * float(1 << AB_BITS)) + delta
        out.append((origin + fixed(m[row] * x * float(1 << AB_BITS))) >> shift)
    return out[0], out[1]


def warp_affine(ops: ArrayOps, op: WarpAffineForward, src: Any, mat: Any) -> Any:
    """``WarpAffineForward`` with the array library ``ops``."""
    same = WarpPerspectiveForward(imode=op.imode, bmode=op.border_mode, format=op.format,
                                  border_val=op.border_val, dsize=op.dsize)
    cv = warp_uses_cv_kernel(same, TensorInfo(tuple(src.shape), ops.dtype_of(src)))
    nhwc = _to_nhwc(ops, src, op.format)
    batch = _batch_index(ops, src, mat, None)
    if cv:
        out = _warp_cv(ops, same, nhwc, mat, batch, positions=_affine_positions)
    else:
        last = ops.from_numpy(np.broadcast_to(np.array([[[0, 0, 1]]], np.float32),
                                              (mat.shape[0], 1, 3)).copy(), mat)
        out = _warp_dnn(ops, same, nhwc, ops.concat([ops.cast(mat, ops.float32), last], 1),
                        batch)
    return _from_nhwc(ops, out, op.format)


def remap(ops: ArrayOps, op: RemapForward, src: Any, map_xy: Any) -> Any:
    """``RemapForward``: ``out[n, h, w] = src[n, map_xy[n, h, w, 1], map_xy[n, h, w, 0]]``."""
    nhwc = _to_nhwc(ops, src, op.format)
    dtype = ops.dtype_of(src)
    height, width = nhwc.shape[1], nhwc.shape[2]
    batch = ops.arange(nhwc.shape[0], ops.int64, src)[:, None, None]
    fx, fy = map_xy[..., 0], map_xy[..., 1]
    border = None
    if op.border_type == "CONSTANT":  # RoundingConverter<ctype>(scalar)
        border = ops.cast(_round_to(ops, ops.from_numpy(np.array(op.scalar, np.float32), src),
                                    dtype), ops.float32)
    sample = _Sampler(ops, nhwc, batch, border)

    def at(iy: Any, ix: Any) -> Any:
        return sample(border_index(ops, iy, height, op.border_type),
                      border_index(ops, ix, width, op.border_type), ops.float32)

    if op.imode == "NEAREST":
        out = at(_to_int(ops, ops.rint(fy), INT_MIN), _to_int(ops, ops.rint(fx), INT_MIN))
    else:
        col, row = ops.floor(fx), ops.floor(fy)
        v, u = (fx - col)[..., None], (fy - row)[..., None]
        ix, iy = _to_int(ops, col, INT_MIN), _to_int(ops, row, INT_MIN)
        out = (at(iy, ix) * (1 - v) * (1 - u) + at(iy, ix + 1) * (1 - u) * v
               + at(iy + 1, ix) * (1 - v) * u + at(iy + 1, ix + 1) * u * v)
    return _from_nhwc(ops, _round_to(ops, out, dtype), op.format)


@NUMPY.kernel(WarpAffineForward)
def warp_affine_kernel(op: WarpAffineForward, src: np.ndarray, mat: np.ndarray) -> np.ndarray:
    return warp_affine(NUMPY_OPS, op, src, mat)


@NUMPY.kernel(RemapForward)
def remap_kernel(op: RemapForward, src: np.ndarray, map_xy: np.ndarray) -> np.ndarray:
    return remap(NUMPY_OPS, op, src, map_xy)
