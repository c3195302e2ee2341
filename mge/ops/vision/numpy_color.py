"""Kernel of ``CvtColorForward`` (MegEngine 1.13's x86 numerics, from
``dnn/src/x86/cvt_color``): uint8 conversions in OpenCV's fixed point (14-bit
coefficients, ``descale`` rounding, saturation), YUV 4:2:0 with MegEngine's 8-bit
integer coefficients (BT.601 modes: libyuv's 6-bit ones), float32 in float32 arithmetic.

Example:
    >>> from mge.ops.vision.color import CvtColorForward
    >>> px = np.array([[[[255, 0, 0]]]], np.uint8)
    >>> cvt_color(NUMPY_OPS, CvtColorForward(mode="RGB2GRAY"), px)
    array([[[[76]]]], dtype=uint8)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import NUMPY
from .color import PACKED, CvtColorForward, is_planar_yuv
from .numpy_kernels import NUMPY_OPS, ArrayOps

SHIFT = 14  # OpenCV's yuv_shift
R2Y, G2Y, B2Y = 4899, 9617, 1868
F32 = np.float32


def _descale(x: Any) -> Any:
    return (x + (1 << (SHIFT - 1))) >> SHIFT


def _u8(ops: ArrayOps, x: Any) -> Any:
    return ops.cast(ops.clip(x, 0, 255), np.dtype(np.uint8))


def _gray(ops: ArrayOps, r: Any, g: Any, b: Any) -> Any:
    return ops.cast((r * R2Y + g * G2Y + b * B2Y + (1 << (SHIFT - 1))) >> SHIFT,
                    np.dtype(np.uint8))


def _packed_u8(ops: ArrayOps, mode: str, x: Any) -> Any:
    c = [x[..., k] for k in range(x.shape[-1])]
    if mode in ("RGB2GRAY", "RGBA2GRAY"):
        return _gray(ops, c[0], c[1], c[2])[..., None]
    if mode == "BGR2GRAY":
        return _gray(ops, c[2], c[1], c[0])[..., None]
    if mode == "RGB2YUV":  # MegEngine weighs channel 0 with the blue coefficient here
        y = _descale(c[0] * B2Y + c[1] * G2Y + c[2] * R2Y)
        cr = _descale((c[0] - y) * 8061 + (128 << SHIFT))
        cb = _descale((c[2] - y) * 14369 + (128 << SHIFT))
        return ops.stack([_u8(ops, v) for v in (y, cr, cb)], 3)
    y, cr, cb = c[0], c[1] - 128, c[2] - 128
    rgb = (y + _descale(cr * 33292), y + _descale(cb * -9519 + cr * -6472),
           y + _descale(cb * 18678))
    return ops.stack([_u8(ops, v) for v in rgb], 3)


def _packed_f32(mode: str, x: Any, ops: ArrayOps) -> Any:
    c = [x[..., k] for k in range(x.shape[-1])]
    r, g, b = F32(0.299), F32(0.587), F32(0.114)
    if mode == "RGB2GRAY":
        return (c[1] * g + c[2] * b + c[0] * r)[..., None]
    if mode == "BGR2GRAY":
        return (c[1] * g + c[0] * b + c[2] * r)[..., None]
    if mode == "RGB2YUV":
        y = c[0] * b + c[1] * g + c[2] * r
        return ops.stack([y, (c[0] - y) * F32(0.492) + F32(0.5),
                          (c[2] - y) * F32(0.877) + F32(0.5)], 3)
    y, cr, cb = c[0], c[1] - F32(0.5), c[2] - F32(0.5)
    # MegEngine adds the two chroma terms first in its 4-pixel SIMD blocks, Y first in
    # the scalar tail of each row
    simd = ops.arange(x.shape[2], ops.int64, x) < x.shape[2] // 4 * 4
    g = ops.where(simd, y + (cb * F32(-0.581) + cr * F32(-0.395)),
                  y + cb * F32(-0.581) + cr * F32(-0.395))
    return ops.stack([y + cr * F32(2.032), g, y + cb * F32(1.140)], 3)


def _chroma(ops: ArrayOps, mode: str, planes: Any, height: int, width: int) -> tuple[Any, Any]:
    """U and V (int32) at full resolution from the chroma rows of a 4:2:0 image."""
    n = planes.shape[0]
    if is_planar_yuv(mode):
        flat = planes.reshape((n, -1))
        quarter = height // 2 * (width // 2)
        first, second = (flat[:, k * quarter:(k + 1) * quarter].reshape((n, height // 2,
                                                                          width // 2))
                         for k in (0, 1))
        u, v = (first, second) if mode.endswith("YU12") else (second, first)
    else:
        a, b = planes[:, :, 0::2], planes[:, :, 1::2]
        u, v = (a, b) if mode.endswith("NV12") else (b, a)

    def full(p: Any) -> Any:
        p = ops.cast(p, ops.int32)
        return ops.repeat(ops.repeat(p, 2, 1), 2, 2)

    return full(u), full(v)


def _yuv420(ops: ArrayOps, mode: str, x: Any) -> Any:
    height = x.shape[1] // 3 * 2
    width = x.shape[2]
    y = x[:, :height, :, 0]
    if mode.startswith("YUV2GRAY"):
        return y[..., None]
    u, v = _chroma(ops, mode, x[:, height:, :, 0], height, width)
    y = ops.cast(y, ops.int32)
    if mode.startswith("BT601"):
        y1 = (y * 0x0101 * 18997) >> 16
        r = (v * 102 + y1 - 14216) >> 6
        g = (y1 + 8696 - (u * 25 + v * 52)) >> 6
        b = (u * 128 + y1 - 17544) >> 6
    else:
        u, v = u - 128, v - 128
        r = y + ((359 * v) >> 8)
        g = y - ((88 * u + 183 * v) >> 8)
        b = y + ((454 * u) >> 8)
    rgb = mode.endswith(("RGB", "RGB_NV21", "RGB_NV12", "RGB_YV12", "RGB_YU12"))
    return ops.stack([_u8(ops, c) for c in ((r, g, b) if rgb else (b, g, r))], 3)


def cvt_color(ops: ArrayOps, op: CvtColorForward, src: Any) -> Any:
    """``CvtColorForward`` with the array library ``ops``."""
    mode = op.mode
    if mode in ("GRAY2RGB",):
        return ops.contiguous(ops.repeat(src, 3, 3))
    if mode in ("RGBA2RGB",):
        return ops.contiguous(src[..., :3])
    if mode in ("RGBA2BGR", "RGB2BGR", "BGR2RGB"):
        return ops.stack([src[..., 2], src[..., 1], src[..., 0]], 3)
    if mode not in PACKED:
        return _yuv420(ops, mode, src)
    if np.dtype(ops.dtype_of(src)).kind == "f":  # float32 (float64: finite differences)
        return _packed_f32(mode, src, ops)
    return _packed_u8(ops, mode, ops.cast(src, ops.int32))


@NUMPY.kernel(CvtColorForward)
def cvt_color_kernel(op: CvtColorForward, src: np.ndarray) -> np.ndarray:
    return cvt_color(NUMPY_OPS, op, src)
