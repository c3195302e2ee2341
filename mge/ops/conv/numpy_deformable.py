"""numpy kernel of ``DeformableConvForward``: per kernel tap, the bilinear samples of
every input channel at its deformable group's offsets (zero outside the image, none
beyond one pixel out, as MegEngine), times the mask; then one matmul per group."""

from __future__ import annotations

import numpy as np

from ..registry import NUMPY
from . import canonical_filter
from .deformable import DeformableConvForward

F32 = np.dtype("float32")


def deformable_columns(op: DeformableConvForward, x: np.ndarray, offset: np.ndarray,
                       mask: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """``(N, IC, KH * KW, OH * OW)`` masked samples (float32)."""
    n, c, h, w = x.shape
    kh, kw = kernel
    _, _, oh, ow = mask.shape
    dg = mask.shape[1] // (kh * kw)
    img = x.astype(F32).reshape(n, dg, c // dg, h * w)
    off = offset.astype(F32).reshape(n, dg, kh * kw, 2, oh * ow)
    msk = mask.astype(F32).reshape(n, dg, kh * kw, oh * ow)
    base_y = (np.arange(oh) * op.stride_h - op.pad_h)[:, None].repeat(ow, 1).reshape(-1)
    base_x = (np.arange(ow) * op.stride_w - op.pad_w)[None, :].repeat(oh, 0).reshape(-1)
    cols = np.zeros((n, dg, c // dg, kh * kw, oh * ow), F32)
    for t in range(kh * kw):
        py = (base_y + (t // kw) * op.dilate_h).astype(F32) + off[:, :, t, 0]
        px = (base_x + (t % kw) * op.dilate_w).astype(F32) + off[:, :, t, 1]
        inside = (py > -1) & (px > -1) & (py < h) & (px < w)
        y0, x0 = np.floor(py), np.floor(px)
        ly, lx = py - y0, px - x0
        acc = np.zeros((n, dg, c // dg, oh * ow), F32)
        for dy, dx, wt in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx),
                           (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
            yy, xx = y0 + dy, x0 + dx
            ok = inside & (yy >= 0) & (xx >= 0) & (yy <= h - 1) & (xx <= w - 1)
            idx = np.where(ok, yy * w + xx, 0).astype(np.int64)
            val = np.take_along_axis(img, idx[:, :, None, :], axis=3)
            acc += np.where(ok, wt, 0)[:, :, None, :] * val
        cols[:, :, :, t] = acc * msk[:, :, t][:, :, None, :]
    return cols.reshape(n, c, kh * kw, oh * ow)


@NUMPY.kernel(DeformableConvForward)
def deformable_conv(op: DeformableConvForward, x: np.ndarray, w: np.ndarray,
                    offset: np.ndarray, mask: np.ndarray) -> np.ndarray:
    filt = canonical_filter(op, w).astype(F32)
    groups, ocpg, icpg, kh, kw = filt.shape
    cols = deformable_columns(op, x, offset, mask, (kh, kw))
    n, _, _, positions = cols.shape
    cols = cols.reshape(n, groups, icpg * kh * kw, positions)
    out = np.matmul(filt.reshape(groups, ocpg, icpg * kh * kw), cols)
    return out.reshape(n, groups * ocpg, *mask.shape[2:]).astype(x.dtype)
