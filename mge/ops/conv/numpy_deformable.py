"""numpy kernel of ``DeformableConvForward``: per kernel tap, the bilinear samples of
every input channel at its deformable group's offsets (zero outside the image, none
beyond one pixel out, as MegEngine), times the mask; then one matmul per group."""

from __future__ import annotations

import numpy as np

from ..registry import NUMPY
from . import canonical_filter, from_canonical_filter
from .deformable import (
    DeformableConvBackwardData,
    DeformableConvBackwardFilter,
    DeformableConvForward,
)

F32 = np.dtype("float32")


#: the bilinear corners ``(dy, dx)`` of a sample and the weights' derivatives in
#: ``ly``/``lx``: ``w = (1 - ly)(1 - lx), (1 - ly) lx, ly (1 - lx), ly lx``
_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))


def _corner_weights(ly: np.ndarray, lx: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Per corner: ``(weight, d weight / d ly, d weight / d lx)``."""
    one = np.ones_like(ly)
    return [((1 - ly) * (1 - lx), -(1 - lx), -(1 - ly)), ((1 - ly) * lx, -lx, 1 - ly),
            (ly * (1 - lx), 1 - lx, -ly), (ly * lx, lx * one, ly * one)]


def _taps(op: DeformableConvForward, shape: tuple[int, ...], offset: np.ndarray,
          kernel: tuple[int, int]):  # noqa: ANN202 - a generator of per-tap samplers
    """For each kernel tap ``t``: ``(t, corners)`` with per corner ``(index, ok, weight,
    dweight_dly, dweight_dlx)`` over ``(N, dg, OH * OW)``: the flat pixel read, whether it
    counts (zero outside the image, none beyond one pixel out, as MegEngine) and the
    bilinear weight."""
    n, _, h, w = shape
    kh, kw = kernel
    oh, ow = offset.shape[2:]
    dg = offset.shape[1] // (2 * kh * kw)
    off = offset.astype(F32).reshape(n, dg, kh * kw, 2, oh * ow)
    base_y = (np.arange(oh) * op.stride_h - op.pad_h)[:, None].repeat(ow, 1).reshape(-1)
    base_x = (np.arange(ow) * op.stride_w - op.pad_w)[None, :].repeat(oh, 0).reshape(-1)
    for t in range(kh * kw):
        py = (base_y + (t // kw) * op.dilate_h).astype(F32) + off[:, :, t, 0]
        px = (base_x + (t % kw) * op.dilate_w).astype(F32) + off[:, :, t, 1]
        inside = (py > -1) & (px > -1) & (py < h) & (px < w)
        y0, x0 = np.floor(py), np.floor(px)
        corners = []
        for (dy, dx), (wt, dly, dlx) in zip(_CORNERS, _corner_weights(py - y0, px - x0),
                                            strict=True):
            yy, xx = y0 + dy, x0 + dx
            ok = inside & (yy >= 0) & (xx >= 0) & (yy <= h - 1) & (xx <= w - 1)
            corners.append((np.where(ok, yy * w + xx, 0).astype(np.int64), ok, wt, dly, dlx))
        yield t, corners


def _read(img: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``img (N, dg, C/dg, H*W)`` at ``index (N, dg, P)`` -> ``(N, dg, C/dg, P)``."""
    return np.take_along_axis(img, index[:, :, None, :], axis=3)


def deformable_columns(op: DeformableConvForward, x: np.ndarray, offset: np.ndarray,
                       mask: np.ndarray, kernel: tuple[int, int],
                       masked: bool = True) -> np.ndarray:
    """``(N, IC, KH * KW, OH * OW)`` bilinear samples (float32), times the mask when
    ``masked``."""
    n, c, h, w = x.shape
    kh, kw = kernel
    dg = mask.shape[1] // (kh * kw)
    img = x.astype(F32).reshape(n, dg, c // dg, h * w)
    msk = mask.astype(F32).reshape(n, dg, kh * kw, -1)
    cols = np.zeros((n, dg, c // dg, kh * kw, msk.shape[-1]), F32)
    for t, corners in _taps(op, x.shape, offset, kernel):
        acc = np.zeros((n, dg, c // dg, msk.shape[-1]), F32)
        for index, ok, wt, _, _ in corners:
            acc += np.where(ok, wt, 0)[:, :, None, :] * _read(img, index)
        cols[:, :, :, t] = acc * msk[:, :, t][:, :, None, :] if masked else acc
    return cols.reshape(n, c, kh * kw, -1)


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


def _column_grad(op: DeformableConvForward, w: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """``(N, IC, KH * KW, OH * OW)``: the gradient of the masked samples."""
    filt = canonical_filter(op, w).astype(F32)
    groups, ocpg, icpg, kh, kw = filt.shape
    n = diff.shape[0]
    dy = diff.astype(F32).reshape(n, groups, ocpg, -1)
    cols = np.matmul(filt.reshape(groups, ocpg, icpg * kh * kw).transpose(0, 2, 1), dy)
    return cols.reshape(n, groups * icpg, kh * kw, -1)


@NUMPY.kernel(DeformableConvBackwardFilter)
def deformable_conv_backward_filter(op: DeformableConvBackwardFilter, x: np.ndarray,
                                    w: np.ndarray, offset: np.ndarray, mask: np.ndarray,
                                    diff: np.ndarray) -> np.ndarray:
    groups, ocpg, icpg, kh, kw = canonical_filter(op, w).shape
    cols = deformable_columns(op, x, offset, mask, (kh, kw))
    n = x.shape[0]
    cols = cols.reshape(n, groups, icpg * kh * kw, -1)
    dy = diff.astype(F32).reshape(n, groups, ocpg, -1)
    grad = np.matmul(dy, cols.transpose(0, 1, 3, 2)).sum(axis=0)
    grad = from_canonical_filter(op, grad.reshape(groups, ocpg, icpg, kh, kw))
    return np.ascontiguousarray(grad.reshape(w.shape), dtype=x.dtype)


@NUMPY.kernel(DeformableConvBackwardData)
def deformable_conv_backward_data(op: DeformableConvBackwardData, x: np.ndarray,
                                  w: np.ndarray, offset: np.ndarray, mask: np.ndarray,
                                  diff: np.ndarray) -> tuple[np.ndarray, ...]:
    """``d src`` (each sample's gradient added at its four corners), ``d offset`` (the
    bilinear weights' slopes times the pixels) and ``d mask`` (the unmasked samples)."""
    n, c, h, wd = x.shape
    kh, kw = canonical_filter(op, w).shape[-2:]
    dg = mask.shape[1] // (kh * kw)
    img = x.astype(F32).reshape(n, dg, c // dg, h * wd)
    msk = mask.astype(F32).reshape(n, dg, kh * kw, -1)
    dcol = _column_grad(op, w, diff).reshape(n, dg, c // dg, kh * kw, -1)
    dimg = np.zeros_like(img)
    doff = np.zeros((n, dg, kh * kw, 2, msk.shape[-1]), F32)
    dmask = np.zeros_like(msk)
    batch = np.arange(n)[:, None, None, None]
    group = np.arange(dg)[None, :, None, None]
    chan = np.arange(c // dg)[None, None, :, None]
    for t, corners in _taps(op, x.shape, offset, (kh, kw)):
        g = dcol[:, :, :, t]  # (N, dg, C/dg, P): the gradient of the masked sample
        g_sample = g * msk[:, :, t][:, :, None, :]
        for index, ok, wt, dly, dlx in corners:
            val = np.where(ok[:, :, None, :], _read(img, index), 0)
            dmask[:, :, t] += (g * np.where(ok, wt, 0)[:, :, None, :] * val).sum(axis=2)
            doff[:, :, t, 0] += (g_sample * np.where(ok, dly, 0)[:, :, None, :] * val).sum(2)
            doff[:, :, t, 1] += (g_sample * np.where(ok, dlx, 0)[:, :, None, :] * val).sum(2)
            spread = np.where(ok[:, :, None, :], wt[:, :, None, :] * g_sample, 0)
            np.add.at(dimg, (batch, group, chan, index[:, :, None, :]), spread)
    return (np.ascontiguousarray(dimg.reshape(x.shape), dtype=x.dtype),
            doff.reshape(offset.shape), dmask.reshape(mask.shape))
