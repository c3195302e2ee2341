"""numpy kernels for ``WarpPerspectiveForward`` and ``ResizeForward`` (MegEngine 1.13 numerics).

The algorithms are written once against :class:`ArrayOps`, the handful of array
primitives they need; the torch backend runs the same functions with torch primitives.
Everything is vectorized: sampling positions are computed for all output pixels at
once, then the source is gathered with integer index arrays.

Two kernel families, as in MegEngine (see ``mge.ops.vision``):

- *dnn*: float32 positions, ``get_real_coord`` border rules, float32 weighted sums,
  integer outputs clamped and rounded half away from zero.
- *cv*: positions in float64 quantized to 1/32 pixel (``cvRound``: ties to even),
  bilinear weights from the 32x32 table (fixed point with 15 bits for uint8), OpenCV's
  border rules; resize with separable tables (uint8: 11-bit weights, truncating).

Example:
    >>> from mge.ops.vision import ResizeForward
    >>> x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    >>> resize(NUMPY_OPS, ResizeForward(format="NCHW", dsize=(1, 1)), x)
    array([[[[1.5]]]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.opdef import TensorInfo
from ..registry import NUMPY
from . import (
    ResizeForward,
    WarpPerspectiveForward,
    resize_uses_cv_kernel,
    warp_uses_cv_kernel,
)

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
TAB_BITS = 5  # cv warp: positions quantized to 1 / 2**TAB_BITS pixel
TAB_SIZE = 1 << TAB_BITS
COEF_BITS = 15  # cv warp: uint8 weights are fixed point with this many bits
RESIZE_BITS = 11  # cv resize: uint8 weights are fixed point with this many bits


class ArrayOps:
    """The array primitives the vision kernels use; this one is numpy's."""

    float32: Any = np.float32
    float64: Any = np.float64
    int32: Any = np.int32
    int64: Any = np.int64

    def cast(self, x: Any, dtype: Any) -> Any:
        """``x`` as ``dtype`` (this library's dtype or a numpy dtype)."""
        return x.astype(dtype)

    def from_numpy(self, value: np.ndarray, like: Any) -> Any:
        """A constant table (computed with numpy) next to ``like``."""
        return value

    def arange(self, n: int, dtype: Any, like: Any) -> Any:
        return np.arange(n, dtype=dtype)

    def floor(self, x: Any) -> Any:
        return np.floor(x)

    def rint(self, x: Any) -> Any:
        """Round half to even."""
        return np.rint(x)

    def where(self, cond: Any, x: Any, y: Any) -> Any:
        return np.where(cond, x, y)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return np.clip(x, lo, hi)

    def isfinite(self, x: Any) -> Any:
        return np.isfinite(x)

    def isnan(self, x: Any) -> Any:
        return np.isnan(x)

    def permute(self, x: Any, axes: tuple[int, ...]) -> Any:
        return np.transpose(x, axes)

    def contiguous(self, x: Any) -> Any:
        return np.ascontiguousarray(x)

    def dtype_of(self, x: Any) -> np.dtype:
        """The numpy dtype of an array of this library."""
        return x.dtype

    def maximum(self, x: Any, y: Any) -> Any:
        """Elementwise maximum (``y`` may be a Python number)."""
        return np.maximum(x, y)

    def minimum(self, x: Any, y: Any) -> Any:
        """Elementwise minimum (``y`` may be a Python number)."""
        return np.minimum(x, y)

    def abs(self, x: Any) -> Any:
        return np.abs(x)

    def ceil(self, x: Any) -> Any:
        return np.ceil(x)

    def amax(self, x: Any, axis: int) -> Any:
        return x.max(axis)

    def argmax(self, x: Any, axis: int) -> Any:
        """Index of the first maximum along ``axis`` (int64)."""
        return x.argmax(axis)

    def take_along(self, x: Any, idx: Any, axis: int) -> Any:
        return np.take_along_axis(x, idx, axis)

    def stack(self, xs: list[Any], axis: int) -> Any:
        return np.stack(xs, axis)

    def concat(self, xs: list[Any], axis: int) -> Any:
        return np.concatenate(xs, axis)

    def repeat(self, x: Any, n: int, axis: int) -> Any:
        """Each element ``n`` times along ``axis``."""
        return np.repeat(x, n, axis)

    def zeros(self, shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
        return np.zeros(shape, dtype)

    def scalar(self, value: float, dtype: Any, like: Any) -> Any:
        """A 0-d array of ``dtype`` next to ``like``."""
        return np.array(value, dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def pad_center(self, x: Any, margin: int) -> Any:
        """``x`` (NCHW) with ``margin`` zeros around its two spatial axes."""
        return np.pad(x, ((0, 0), (0, 0), (margin, margin), (margin, margin)))

    def sum(self, x: Any, axis: int) -> Any:
        return x.sum(axis)

    def checked_index(self, idx: Any, n: int, what: str) -> Any:
        """``idx`` (integers) after checking each lies in ``[0, n)``; ``what`` names the
        values in the error (MegEngine asserts)."""
        host = self.to_numpy(idx)
        if host.size and (int(host.min()) < 0 or int(host.max()) >= n):
            raise IndexError(f"{what} values {sorted(set(host.reshape(-1).tolist()))} out of "
                             f"range for a batch of {n}")
        return idx


NUMPY_OPS = ArrayOps()


# ------------------------------------------------------------------------- shared pieces
def border_index(ops: ArrayOps, p: Any, length: int, bmode: str) -> Any:
    """MegEngine's ``get_real_coord`` on an int array; CONSTANT maps outside to -1."""
    if bmode == "REPLICATE":
        return ops.clip(p, 0, length - 1)
    if bmode == "CONSTANT":
        return ops.where((p >= 0) & (p < length), p, -1)
    if bmode == "WRAP":
        return p % length
    if length == 1:
        return p * 0
    delta = int(bmode == "REFLECT_101")
    period = 2 * length - 2 * delta
    q = p % period
    return ops.where(q < length, q, period - 1 + delta - q)


def _to_nhwc(ops: ArrayOps, x: Any, fmt: str) -> Any:
    return ops.permute(x, (0, 2, 3, 1)) if fmt == "NCHW" else x


def _from_nhwc(ops: ArrayOps, x: Any, fmt: str) -> Any:
    return ops.contiguous(ops.permute(x, (0, 3, 1, 2)) if fmt == "NCHW" else x)


def _round_to(ops: ArrayOps, val: Any, dtype: np.dtype) -> Any:
    """MegEngine's ``RoundingConverter``: float -> dtype (integers: round half away from 0)."""
    if dtype.kind == "f":
        return ops.cast(val, dtype)
    lo, hi = (0.0, 255.0) if dtype == np.uint8 else (-128.0, 127.0)
    val = ops.where(val > lo, val, lo)  # NaN -> lo, as std::max(0.f, NaN)
    val = ops.where(val < hi, val, hi)
    mag = ops.where(val < 0, -val, val)
    fl = ops.floor(mag)
    mag = ops.where(mag - fl >= 0.5, fl + 1, fl)
    return ops.cast(ops.where(val < 0, -mag, mag), dtype)


def _to_int(ops: ArrayOps, x: Any, nan_value: int) -> Any:
    """Float -> int64 like an x86 conversion: out of int32 range or NaN -> ``nan_value``."""
    ok = ops.isfinite(x) & (x >= INT_MIN) & (x <= INT_MAX)
    return ops.cast(ops.where(ok, x, nan_value), ops.int64)


class _Sampler:
    """Gathers from an NHWC source at per-pixel (batch, row, col) indices; -1 = border."""

    def __init__(self, ops: ArrayOps, src: Any, batch: Any, border: Any) -> None:
        self.ops, self.src, self.batch, self.border = ops, src, batch, border
        self.height, self.width = src.shape[1], src.shape[2]

    def __call__(self, iy: Any, ix: Any, dtype: Any) -> Any:
        ops = self.ops
        vals = ops.cast(self.src[self.batch, ops.clip(iy, 0, self.height - 1),
                                 ops.clip(ix, 0, self.width - 1)], dtype)
        if self.border is None:
            return vals
        inside = ((iy >= 0) & (ix >= 0))[..., None]
        return ops.where(inside, vals, self.border)


def _batch_index(ops: ArrayOps, src: Any, mat: Any, mat_idx: Any) -> Any:
    if mat_idx is None:
        return ops.arange(mat.shape[0], ops.int64, mat)[:, None, None]
    idx = ops.checked_index(mat_idx, src.shape[0], "WarpPerspectiveForward: mat_idx")
    return ops.cast(idx, ops.int64)[:, None, None]


def _mat_rows(ops: ArrayOps, mat: Any, dtype: Any) -> list[Any]:
    m = ops.cast(mat, dtype)
    return [m[:, k // 3, k % 3][:, None, None] for k in range(9)]


# ------------------------------------------------------------------------- warp: dnn
def warp_dnn_positions(ops: ArrayOps, op: WarpPerspectiveForward, mat: Any,
                       like: Any) -> tuple[Any, Any]:
    """The dnn warp's source column and row ``(aw, ah)`` of every output pixel, float32
    ``(n, oh, ow)``."""
    oh_, ow_ = op.dsize
    m = _mat_rows(ops, mat, ops.float32)
    ow = ops.arange(ow_, ops.float32, like)[None, None, :]
    oh = ops.arange(oh_, ops.float32, like)[None, :, None]
    den = m[6] * ow + m[7] * oh + m[8]
    return (m[0] * ow + m[1] * oh + m[2]) / den, (m[3] * ow + m[4] * oh + m[5]) / den


def warp_dnn_corners(ops: ArrayOps, f: Any, length: int, bmode: str) -> tuple[Any, Any]:
    """The two source indices around floored positions ``f`` (``-1``: CONSTANT border)."""
    return tuple(border_index(ops, _to_int(ops, f + k, INT_MIN), length, bmode)
                 for k in (0, 1))


def _warp_dnn(ops: ArrayOps, op: WarpPerspectiveForward, src: Any, mat: Any, batch: Any) -> Any:
    aw, ah = warp_dnn_positions(ops, op, mat, src)
    fw, fh = ops.floor(aw), ops.floor(ah)
    height, width = src.shape[1], src.shape[2]
    iw0, iw1 = warp_dnn_corners(ops, fw, width, op.bmode)
    ih0, ih1 = warp_dnn_corners(ops, fh, height, op.bmode)
    aw, ah = (aw - fw)[..., None], (ah - fh)[..., None]
    bval = ops.from_numpy(np.array(op.border_val, np.float32), src)
    sample = _Sampler(ops, src, batch, bval if op.bmode == "CONSTANT" else None)
    val = (sample(ih0, iw0, ops.float32) * (1 - aw) * (1 - ah)
           + sample(ih0, iw1, ops.float32) * aw * (1 - ah)
           + sample(ih1, iw0, ops.float32) * (1 - aw) * ah
           + sample(ih1, iw1, ops.float32) * aw * ah)
    if op.bmode == "CONSTANT":
        val = ops.where(ops.isfinite(val), val, bval)
    return _round_to(ops, val, ops.dtype_of(src))


# ------------------------------------------------------------------------- warp: cv
def _cv_positions(ops: ArrayOps, op: WarpPerspectiveForward, mat: Any, like: Any,
                  scale: float) -> tuple[Any, Any]:
    """``cvRound(scale * M . (x, y, 1))``, evaluated in float64 block by block as MegEngine."""
    height, width = op.dsize
    block_h = min(16, height)
    block_w = min(1024 // block_h, width)
    col = np.arange(width)
    x0 = ops.from_numpy((col // block_w * block_w).astype(np.float64)[None, None, :], like)
    x1 = ops.from_numpy((col % block_w).astype(np.float64)[None, None, :], like)
    y = ops.from_numpy(np.arange(height, dtype=np.float64)[None, :, None], like)
    m = _mat_rows(ops, mat, ops.float64)
    w = m[6] * x0 + m[7] * y + m[8] + m[6] * x1
    nonzero = w != 0
    w = ops.where(nonzero, scale / ops.where(nonzero, w, 1.0), 0.0)
    out = []
    for k in (0, 3):
        f = (m[k] * x0 + m[k + 1] * y + m[k + 2] + m[k] * x1) * w
        f = ops.where(ops.isnan(f), float(INT_MAX), ops.clip(f, INT_MIN, INT_MAX))
        out.append(ops.cast(ops.rint(f), ops.int64))
    return out[0], out[1]


def _warp_cv(ops: ArrayOps, op: WarpPerspectiveForward, src: Any, mat: Any, batch: Any,
             positions: Any = _cv_positions) -> Any:
    height, width = src.shape[1], src.shape[2]
    is_u8 = ops.dtype_of(src) == np.uint8
    bval = np.array(op.border_val, np.float32)
    if is_u8:  # (uchar)border_value: truncate, keep the low byte
        bval = np.array(int(np.trunc(bval)) & 0xFF, np.int32)
    acc = ops.int32 if is_u8 else ops.float32
    constant = op.bmode == "CONSTANT"
    sample = _Sampler(ops, src, batch, ops.from_numpy(bval, src) if constant else None)

    def index(p: Any, length: int) -> Any:
        return border_index(ops, ops.clip(p, -32768, 32767), length, op.bmode)

    if op.imode == "NEAREST":
        px, py = positions(ops, op, mat, src, 1.0)
        return ops.cast(sample(index(py, height), index(px, width), acc), ops.dtype_of(src))

    px, py = positions(ops, op, mat, src, float(TAB_SIZE))
    sx, sy = ops.clip(px >> TAB_BITS, -32768, 32767), ops.clip(py >> TAB_BITS, -32768, 32767)
    fx = ops.cast(px & (TAB_SIZE - 1), acc)[..., None]
    fy = ops.cast(py & (TAB_SIZE - 1), acc)[..., None]
    # weights * 2**15: (32 - f) * 32 * (32 - g) etc. (the float table holds them / 2**15)
    weights = [(TAB_SIZE - fy) * (TAB_SIZE - fx), (TAB_SIZE - fy) * fx,
               fy * (TAB_SIZE - fx), fy * fx]
    ix = (border_index(ops, sx, width, op.bmode), border_index(ops, sx + 1, width, op.bmode))
    iy = (border_index(ops, sy, height, op.bmode), border_index(ops, sy + 1, height, op.bmode))
    val = None
    for k, wk in enumerate(weights):
        wk = wk * TAB_SIZE if is_u8 else wk * (TAB_SIZE / (1 << COEF_BITS))
        term = sample(iy[k // 2], ix[k % 2], acc) * wk
        val = term if val is None else val + term
    if is_u8:
        val = ops.clip((val + (1 << (COEF_BITS - 1))) >> COEF_BITS, 0, 255)
    if constant:
        outside = (sx >= width) | (sx + 1 < 0) | (sy >= height) | (sy + 1 < 0)
        val = ops.where(outside[..., None], sample.border, val)
    return ops.cast(val, ops.dtype_of(src))


def warp_perspective(ops: ArrayOps, op: WarpPerspectiveForward, src: Any, mat: Any,
                     mat_idx: Any = None) -> Any:
    """``WarpPerspectiveForward`` with the array library ``ops``."""
    cv = warp_uses_cv_kernel(op, TensorInfo(tuple(src.shape), ops.dtype_of(src)))
    batch = _batch_index(ops, src, mat, mat_idx)
    out = (_warp_cv if cv else _warp_dnn)(ops, op, _to_nhwc(ops, src, op.format), mat, batch)
    return _from_nhwc(ops, out, op.format)


# ------------------------------------------------------------------------- resize
def _linear_table(isize: int, osize: int, cv: bool) -> tuple[np.ndarray, ...]:
    """Per output index: (index0, index1, weight0, weight1) of MegEngine's linear resize."""
    f32 = np.float32
    idx = np.arange(osize).astype(f32)
    if isize == 1:
        zero = np.zeros(osize, np.int64)
        return zero, zero, np.ones(osize, f32), np.zeros(osize, f32)
    scale = f32(osize) / f32(isize)
    alpha = (idx + f32(0.5)) * (f32(1) / scale) - f32(0.5) if cv else (
        (idx + f32(0.5)) / scale - f32(0.5))
    origin = np.floor(alpha).astype(np.int64)
    alpha = alpha - origin.astype(f32)
    low, high = origin < 0, origin + 1 >= isize
    origin = np.where(low, 0, np.where(high, isize - 2, origin))
    alpha = np.where(low, f32(0), np.where(high, f32(1), alpha)).astype(f32)
    return origin, origin + 1, f32(1) - alpha, alpha


def _nearest_table(isize: int, osize: int, cv: bool) -> np.ndarray:
    if cv:
        pos = np.floor(np.arange(osize) * (1.0 / (osize / isize)))
    else:
        pos = np.arange(osize).astype(np.float32) / (np.float32(osize) / np.float32(isize))
    return np.clip(pos.astype(np.int64), 0, isize - 1)


def _cubic_table(isize: int, osize: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output index: the 4 source indices and MegEngine's cubic coefficients (A=-0.75)."""
    f32 = np.float32
    alpha = (np.arange(osize).astype(f32) + f32(0.5)) / (f32(osize) / f32(isize)) - f32(0.5)
    origin = np.floor(alpha).astype(np.int64)
    x = alpha - origin.astype(f32)
    a, one = f32(-0.75), f32(1)
    c0 = ((a * (x + one) - f32(5) * a) * (x + one) + f32(8) * a) * (x + one) - f32(4) * a
    c1 = ((a + f32(2)) * x - (a + f32(3))) * x * x + one
    c2 = ((a + f32(2)) * (one - x) - (a + f32(3))) * (one - x) * (one - x) + one
    c3 = one - c0 - c1 - c2
    index = np.clip(origin[:, None] + np.arange(-1, 3), 0, isize - 1)
    return index, np.stack([c0, c1, c2, c3], axis=1).astype(f32)


class _Rows:
    """An NHWC source gathered on output rows and columns, with per-axis weight tables."""

    def __init__(self, ops: ArrayOps, src: Any) -> None:
        self.ops, self.src = ops, src

    def take(self, rows: np.ndarray, cols: np.ndarray, dtype: Any) -> Any:
        ops = self.ops
        picked = self.src[:, ops.from_numpy(rows, self.src)][:, :, ops.from_numpy(cols, self.src)]
        return ops.cast(picked, dtype)

    def weight(self, w: np.ndarray, axis: int) -> Any:
        return self.ops.from_numpy(w.reshape((1, -1, 1, 1) if axis == 1 else (1, 1, -1, 1)),
                                   self.src)


def _resize_linear(ops: ArrayOps, src: Any, op: ResizeForward, cv: bool) -> Any:
    (h0, h1, ah0, ah1), (w0, w1, aw0, aw1) = (
        _linear_table(src.shape[k], op.dsize[k - 1], cv) for k in (1, 2))
    g = _Rows(ops, src)
    dtype = ops.dtype_of(src)
    if not cv:
        val = (g.take(h0, w0, ops.float32) * g.weight(ah0, 1) * g.weight(aw0, 2)
               + g.take(h0, w1, ops.float32) * g.weight(ah0, 1) * g.weight(aw1, 2)
               + g.take(h1, w0, ops.float32) * g.weight(ah1, 1) * g.weight(aw0, 2)
               + g.take(h1, w1, ops.float32) * g.weight(ah1, 1) * g.weight(aw1, 2))
        return _round_to(ops, val, dtype)
    if dtype == np.float32:
        ry, iry = g.weight(aw1, 2), g.weight(np.float32(1) - aw1, 2)
        c0 = g.take(h0, w1, ops.float32) * ry + g.take(h0, w0, ops.float32) * iry
        c1 = g.take(h1, w1, ops.float32) * ry + g.take(h1, w0, ops.float32) * iry
        return g.weight(ah1, 1) * c1 + g.weight(np.float32(1) - ah1, 1) * c0
    one = 1 << RESIZE_BITS
    ry, rx = ((a * np.float32(one)).astype(np.int32) for a in (aw1, ah1))
    c0 = g.take(h0, w1, ops.int32) * g.weight(ry, 2) + g.take(h0, w0, ops.int32) * g.weight(
        one - ry, 2)
    c1 = g.take(h1, w1, ops.int32) * g.weight(ry, 2) + g.take(h1, w0, ops.int32) * g.weight(
        one - ry, 2)
    val = (g.weight(rx, 1) * c1 + g.weight(one - rx, 1) * c0) >> (2 * RESIZE_BITS)
    return ops.cast(val, dtype)


def _resize_cubic(ops: ArrayOps, src: Any, op: ResizeForward) -> Any:
    (hidx, hc), (widx, wc) = (_cubic_table(src.shape[k], op.dsize[k - 1]) for k in (1, 2))
    g = _Rows(ops, src)
    val = None
    for kh in range(4):
        for kw in range(4):
            term = (g.take(hidx[:, kh], widx[:, kw], ops.float32) * g.weight(hc[:, kh], 1)
                    * g.weight(wc[:, kw], 2))
            val = term if val is None else val + term
    return _round_to(ops, val, ops.dtype_of(src))


def resize(ops: ArrayOps, op: ResizeForward, src: Any) -> Any:
    """``ResizeForward`` with the array library ``ops``."""
    cv = resize_uses_cv_kernel(op, TensorInfo(tuple(src.shape), ops.dtype_of(src)))
    nhwc = _to_nhwc(ops, src, op.format)
    if op.imode == "NEAREST":
        rows, cols = (_nearest_table(nhwc.shape[k], op.dsize[k - 1], cv) for k in (1, 2))
        out = _Rows(ops, nhwc).take(rows, cols, ops.dtype_of(src))
    elif op.imode == "CUBIC":
        out = _resize_cubic(ops, nhwc, op)
    else:
        out = _resize_linear(ops, nhwc, op, cv)
    return _from_nhwc(ops, out, op.format)


@NUMPY.kernel(WarpPerspectiveForward)
def warp_perspective_kernel(op: WarpPerspectiveForward, src: np.ndarray, mat: np.ndarray,
                            mat_idx: np.ndarray | None = None) -> np.ndarray:
    return warp_perspective(NUMPY_OPS, op, src, mat, mat_idx)


@NUMPY.kernel(ResizeForward)
def resize_kernel(op: ResizeForward, src: np.ndarray, *size: np.ndarray) -> np.ndarray:
    # a size input (a traced interpolate's) always equals ``dsize`` where a kernel runs
    return resize(NUMPY_OPS, op, src)
