"""Kernels of the detection ops: ``NMSKeep``, ``ROIAlignForward``, ``ROIPoolingForward``,
``DeformablePSROIPoolingForward``, ``CorrelationForward`` (MegEngine 1.13 numerics, written
once against :class:`ArrayOps`).

Each follows MegEngine's naive CPU kernel (``dnn/src/naive/roi_align``, ``roi_pooling``,
``deformable_ps_roi_pooling``, ``correlation``; ``src/opr/impl/standalone/nms_cpu.cpp``)
operation by operation in float32, vectorized over the output elements; the loops left
are over the samples of one output element, in MegEngine's order, so sums round as
MegEngine's do.

Example:
    >>> from mge.ops.vision.detection import NMSKeep
    >>> boxes = np.array([[[0, 0, 2, 2], [0, 0, 2, 1.9], [3, 3, 4, 4]]], np.float32)
    >>> nms_keep(NUMPY_OPS, NMSKeep(iou_thresh=0.5, max_output=3), boxes)
    (array([[0, 2, 2]], dtype=int32), array([2], dtype=int32))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ...core.opdef import OpDef
from ..registry import NUMPY
from .detection import (
    CorrelationForward,
    CountPrefix,
    DeformablePSROIPoolingForward,
    NMSKeep,
    ROIAlignForward,
    ROIPoolingForward,
    correlation_geometry,
)
from .numpy_kernels import NUMPY_OPS, ArrayOps

F32 = np.float32


# ------------------------------------------------------------------------- NMSKeep
def suppression(ops: ArrayOps, boxes: Any, thresh: float) -> Any:
    """``sup[..., i, j]``: box ``i`` overlaps box ``j`` more than ``thresh`` (MegEngine's
    box_iou) for ``(..., n, 4)`` boxes."""
    x0, y0, x1, y1 = (boxes[..., k] for k in range(4))
    left = ops.maximum(x0[..., :, None], x0[..., None, :])
    right = ops.minimum(x1[..., :, None], x1[..., None, :])
    top = ops.maximum(y0[..., :, None], y0[..., None, :])
    bottom = ops.minimum(y1[..., :, None], y1[..., None, :])
    inter = ops.maximum(right - left, 0.0) * ops.maximum(bottom - top, 0.0)
    area = (x1 - x0) * (y1 - y0)
    union = area[..., :, None] + area[..., None, :] - inter
    return inter > union * ops.scalar(thresh, ops.float32, boxes)


def _greedy_keep(sup: np.ndarray, max_output: int) -> list[int]:
    """Indices kept by MegEngine's greedy pass: a box survives unless a kept one suppresses it."""
    kept: list[int] = []
    for i in range(sup.shape[0]):
        if not kept or not sup[i, kept].any():
            kept.append(i)
            if len(kept) == max_output:
                break
    return kept


def nms_keep(ops: ArrayOps, op: NMSKeep, boxes: Any) -> tuple[Any, Any]:
    """``NMSKeep`` on ``(batch, n, 4)`` boxes sorted by score: kept indices and counts."""
    batch = boxes.shape[0]
    indices = np.zeros((batch, op.max_output), np.int32)
    sizes = np.zeros((batch,), np.int32)
    sup = ops.to_numpy(suppression(ops, boxes, op.iou_thresh))
    for b in range(batch):
        kept = _greedy_keep(sup[b], op.max_output)
        sizes[b] = len(kept)
        row = kept + [kept[-1] if kept else 0] * (op.max_output - len(kept))
        indices[b] = row
    return ops.from_numpy(indices, boxes), ops.from_numpy(sizes, boxes)


# ------------------------------------------------------------------------- ROI helpers
def _roi_batch(ops: ArrayOps, op: OpDef, rois: Any, batch: int) -> Any:
    """Column 0 of ``rois`` as int64 image indices (truncated, as MegEngine's int cast)."""
    return ops.checked_index(ops.cast(rois[:, 0], ops.int64), batch,
                             f"{op.type_name}: roi batch indices")


# ------------------------------------------------------------------------- ROIAlign
def _bilinear(ops: ArrayOps, feat: Any, batch: Any, h: Any, w: Any) -> Any:
    """MegEngine's roi_align ``bilinear_interp``: zero outside, float32 lerps.

    ``feat`` is ``(n, c, height, width)``; ``batch``, ``h``, ``w`` broadcast to the
    output's ``(k, ph, pw)``; the result is ``(k, c, ph, pw)``.
    """
    height, width = feat.shape[2], feat.shape[3]
    h0f, w0f = ops.floor(h), ops.floor(w)
    h0, w0 = ops.cast(h0f, ops.int64), ops.cast(w0f, ops.int64)

    def corner(hi: Any, wi: Any) -> Any:
        inside = (hi >= 0) & (hi < height) & (wi >= 0) & (wi < width)
        v = feat[batch, :, ops.clip(hi, 0, height - 1), ops.clip(wi, 0, width - 1)]
        v = ops.permute(v, (0, 3, 1, 2))  # (k, ph, pw, c) -> (k, c, ph, pw)
        return ops.where(inside[:, None], v, ops.scalar(0.0, ops.float32, feat))

    tl, tr = corner(h0, w0), corner(h0, w0 + 1)
    bl, br = corner(h0 + 1, w0), corner(h0 + 1, w0 + 1)
    fw, fh = (w - w0f)[:, None], (h - h0f)[:, None]
    top = tl + (tr - tl) * fw
    bottom = bl + (br - bl) * fw
    return top + (bottom - top) * fh


def roi_align_samples(ops: ArrayOps, op: ROIAlignForward, rois: Any,
                      like: Any) -> Iterator[tuple[Any, Any]]:
    """The sample positions ``(h, w)`` of every output element, ``(k, ph, pw)`` float32
    arrays, one pair per sample in MegEngine's order (sample ``hi * sample_width + wi``)."""
    ph_, pw_ = op.pooled_height, op.pooled_width
    scale, offset = F32(op.spatial_scale), F32(op.offset)
    start_w = rois[:, 1] * scale - offset
    start_h = rois[:, 2] * scale - offset
    roi_w = ops.maximum(rois[:, 3] * scale - offset - start_w, 0.0)
    roi_h = ops.maximum(rois[:, 4] * scale - offset - start_h, 0.0)
    bin_h = (roi_h / F32(ph_))[:, None, None]
    bin_w = (roi_w / F32(pw_))[:, None, None]
    start_h, start_w = start_h[:, None, None], start_w[:, None, None]
    ph = ops.arange(ph_, ops.float32, like)[None, :, None]
    pw = ops.arange(pw_, ops.float32, like)[None, None, :]
    sh, sw = op.sample_height, op.sample_width
    rate_h, rate_w = F32(1) / F32(sh) if sh else F32(0), F32(1) / F32(sw) if sw else F32(0)
    for hi in range(sh):
        for wi in range(sw):
            yield (start_h + bin_h * (ph + rate_h * (F32(hi) + F32(0.5))),
                   start_w + bin_w * (pw + rate_w * (F32(wi) + F32(0.5))))


def roi_align(ops: ArrayOps, op: ROIAlignForward, feat: Any, rois: Any) -> tuple[Any, Any]:
    """``ROIAlignForward``: ``(k, c, pooled_height, pooled_width)`` values and argmax indices."""
    k, c = rois.shape[0], feat.shape[1]
    shape = (k, c, op.pooled_height, op.pooled_width)
    if 0 in feat.shape or k == 0:
        return ops.zeros(shape, ops.float32, feat), ops.zeros(shape, ops.int32, feat)
    batch = _roi_batch(ops, op, rois, feat.shape[0])[:, None, None]
    sh, sw = op.sample_height, op.sample_width
    best = total = index = None
    for s, (h, w) in enumerate(roi_align_samples(ops, op, rois, feat)):
        val = _bilinear(ops, feat, batch, h, w)
        if op.mode == "MAX":
            if best is None:
                best, index = val, ops.zeros(shape, ops.int32, feat)
            else:
                better = val > best
                best = ops.where(better, val, best)
                index = ops.where(better, ops.scalar(s, ops.int32, feat), index)
        else:
            total = val if total is None else total + val
    if best is None and total is None:  # no samples: MegEngine writes 0
        return ops.zeros(shape, ops.float32, feat), ops.zeros(shape, ops.int32, feat) - 1
    if op.mode == "MAX":
        return best, index
    return total / F32(sh * sw), ops.zeros(shape, ops.int32, feat)


# ------------------------------------------------------------------------- ROIPooling
def _round_half_away(ops: ArrayOps, x: Any) -> Any:
    mag = ops.floor(ops.abs(x) + 0.5)
    return ops.cast(ops.where(x < 0, -mag, mag), ops.int64)


def _bin_edges(ops: ArrayOps, n_bins: int, size: Any, start: Any, limit: int,
               like: Any) -> tuple[Any, Any]:
    """Per roi and bin: ``[start, end)`` in the feature map, clipped to ``[0, limit]``."""
    bin_size = ops.cast(size, ops.float32)[:, None] / F32(n_bins)
    p = ops.arange(n_bins, ops.float32, like)[None, :]
    lo = ops.cast(ops.floor(p * bin_size), ops.int64) + start[:, None]
    hi = ops.cast(ops.ceil((p + F32(1)) * bin_size), ops.int64) + start[:, None]
    return ops.clip(lo, 0, limit), ops.clip(hi, 0, limit)


def roi_pooling_bins(ops: ArrayOps, op: ROIPoolingForward, rois: Any, height: int, width: int,
                     like: Any) -> tuple[Any, Any, Any, Any]:
    """Each roi's bins in the feature map: rows ``[hs, he)`` ``(k, ph)`` and columns
    ``[ws, we)`` ``(k, pw)``, clipped to the map (int64)."""
    x0, y0, x1, y1 = (_round_half_away(ops, rois[:, j] * F32(op.scale)) for j in range(1, 5))
    roi_w = ops.maximum(x1 - x0 + 1, 1)
    roi_h = ops.maximum(y1 - y0 + 1, 1)
    hs, he = _bin_edges(ops, op.dsize[0], roi_h, y0, height, like)
    ws, we = _bin_edges(ops, op.dsize[1], roi_w, x0, width, like)
    return hs, he, ws, we


def roi_pooling(ops: ArrayOps, op: ROIPoolingForward, feat: Any, rois: Any) -> tuple[Any, Any]:
    """``ROIPoolingForward``: ``(k, c, *dsize)`` max/average pools and argmax indices."""
    k, c = rois.shape[0], feat.shape[1]
    height, width = feat.shape[2], feat.shape[3]
    ph_, pw_ = op.dsize
    shape = (k, c, ph_, pw_)
    if 0 in feat.shape or k == 0:
        return ops.zeros(shape, ops.float32, feat), ops.zeros(shape, ops.int32, feat)
    batch = _roi_batch(ops, op, rois, feat.shape[0])
    hs, he, ws, we = roi_pooling_bins(ops, op, rois, height, width, feat)
    rows = ops.arange(height, ops.int64, feat)
    cols = ops.arange(width, ops.int64, feat)
    in_h = (rows[None, None, :] >= hs[..., None]) & (rows[None, None, :] < he[..., None])
    in_w = (cols[None, None, :] >= ws[..., None]) & (cols[None, None, :] < we[..., None])
    x = feat[batch]  # (k, c, height, width)
    count = (he - hs)[:, :, None] * (we - ws)[:, None, :]  # (k, ph, pw)
    empty = (count <= 0)[:, None]  # (k, 1, ph, pw)
    zero = ops.scalar(0.0, ops.float32, feat)
    if op.mode == "MAX":
        low = ops.scalar(-np.inf, ops.float32, feat)
        # max over the columns of each horizontal bin, then over the rows of each vertical
        # one; argmax takes the first maximum of each, so the index is the row-major first
        by_col = [ops.where(in_w[:, q, None, None, :], x, low) for q in range(pw_)]
        col_max = ops.stack([ops.amax(v, 3) for v in by_col], 3)  # (k, c, height, pw)
        col_arg = ops.stack([ops.argmax(v, 3) for v in by_col], 3)
        vals, index = [], []
        for p in range(ph_):
            masked = ops.where(in_h[:, p, None, :, None], col_max, low)
            row = ops.argmax(masked, 2)  # (k, c, pw)
            vals.append(ops.amax(masked, 2))
            index.append(row * width + ops.take_along(col_arg, row[:, :, None, :], 2)[:, :, 0])
        val, idx = ops.stack(vals, 2), ops.stack(index, 2)
        return ops.where(empty, zero, val), ops.cast(ops.where(empty, -1, idx), ops.int32)
    by_row = ops.stack([ops.sum(ops.where(in_w[:, q, None, None, :], x, zero), 3)
                        for q in range(pw_)], 3)  # (k, c, height, pw): sums over columns
    total = ops.stack([ops.sum(ops.where(in_h[:, p, None, :, None], by_row, zero), 2)
                       for p in range(ph_)], 2)  # (k, c, ph, pw)
    val = total / ops.cast(ops.where(empty, 1, count[:, None]), ops.float32)
    return ops.where(empty, zero, val), ops.zeros(shape, ops.int32, feat)


# ------------------------------------------------------------------------- DeformablePSROI
def _round_half_away_f32(ops: ArrayOps, x: Any) -> Any:
    mag = ops.floor(ops.abs(x) + 0.5)
    return ops.where(x < 0, -mag, mag)


def deformable_psroi_pooling(ops: ArrayOps, op: DeformablePSROIPoolingForward, feat: Any,
                             rois: Any, trans: Any) -> tuple[Any, Any]:
    """``DeformablePSROIPoolingForward``: per roi, channel and bin the mean of the samples
    inside the image (each clamped, then bilinear) and their count."""
    k, c = rois.shape[0], feat.shape[1]
    height, width = feat.shape[2], feat.shape[3]
    ph_, pw_, part, spp = op.pooled_h, op.pooled_w, op.part_size, op.sample_per_part
    batch = _roi_batch(ops, op, rois, feat.shape[0])
    scale = F32(op.spatial_scale)
    x0, y0 = (_round_half_away_f32(ops, rois[:, j]) * scale - F32(0.5) for j in (1, 2))
    x1, y1 = ((_round_half_away_f32(ops, rois[:, j]) + F32(1)) * scale - F32(0.5)
              for j in (3, 4))
    roi_w, roi_h = ops.maximum(x1 - x0, 0.1), ops.maximum(y1 - y0, 0.1)
    bin_w, bin_h = roi_w / F32(pw_), roi_h / F32(ph_)
    sub_w, sub_h = bin_w / F32(spp), bin_h / F32(spp)
    pw = ops.arange(pw_, ops.float32, feat)[None, None, :]
    ph = ops.arange(ph_, ops.float32, feat)[None, :, None]
    wstart = pw * bin_w[:, None, None] + x0[:, None, None]  # (k, 1, pw)
    hstart = ph * bin_h[:, None, None] + y0[:, None, None]  # (k, ph, 1)
    if not op.no_trans:
        part_h = np.floor(np.arange(ph_, dtype=np.float32) / np.float32(ph_)
                          * np.float32(part)).astype(np.int64)
        part_w = np.floor(np.arange(pw_, dtype=np.float32) / np.float32(pw_)
                          * np.float32(part)).astype(np.int64)
        cell = part_h[:, None] * part + part_w[None, :]  # (ph, pw)
        base = np.arange(k)[:, None, None] * 2 * part * part + cell[None]
        flat = trans.reshape((-1,))
        std = F32(op.trans_std)
        tx = flat[ops.from_numpy(base, feat)] * std
        ty = flat[ops.from_numpy(base + part * part, feat)] * std
        wstart = wstart + tx * roi_w[:, None, None]
        hstart = hstart + ty * roi_h[:, None, None]
    x = feat[batch]  # (k, c, height, width)
    kk = ops.arange(k, ops.int64, feat)[:, None, None]
    total = count = None
    for ih in range(spp):
        for iw in range(spp):
            w = wstart + F32(iw) * sub_w[:, None, None]
            h = hstart + F32(ih) * sub_h[:, None, None]
            inside = (w >= -0.5) & (w <= width - 0.5) & (h >= -0.5) & (h <= height - 0.5)
            w = ops.clip(w, 0.0, width - 1.0)
            h = ops.clip(h, 0.0, height - 1.0)
            h1, w1 = ops.floor(h), ops.floor(w)
            dh, dw = h - h1, w - w1
            h1i, w1i = ops.cast(h1, ops.int64), ops.cast(w1, ops.int64)
            h2i, w2i = ops.cast(ops.ceil(h), ops.int64), ops.cast(ops.ceil(w), ops.int64)

            def at(hi: Any, wi: Any) -> Any:
                return ops.permute(x[kk, :, hi, wi], (0, 3, 1, 2))  # (k, c, ph, pw)

            dw_, dh_ = dw[:, None], dh[:, None]
            val = ((1 - dw_) * (1 - dh_) * at(h1i, w1i) + (1 - dw_) * dh_ * at(h2i, w1i)
                   + dw_ * (1 - dh_) * at(h1i, w2i) + dw_ * dh_ * at(h2i, w2i))
            val = ops.where(inside[:, None], val, ops.scalar(0.0, ops.float32, feat))
            hit = ops.cast(inside, ops.float32)[:, None]
            total = val if total is None else total + val
            count = hit if count is None else count + hit
    count = count + ops.zeros((k, c, ph_, pw_), ops.float32, feat)
    empty = count == 0
    out = ops.where(empty, ops.scalar(0.0, ops.float32, feat),
                    total / ops.where(empty, 1.0, count))
    return out, count


# ------------------------------------------------------------------------- Correlation
def correlation(ops: ArrayOps, op: CorrelationForward, data1: Any, data2: Any) -> Any:
    """``CorrelationForward`` (NCHW): mean over kernel window and channels of products or
    absolute differences between ``data1`` and displaced ``data2``."""
    geo = correlation_geometry(op, data1.shape)
    n, ch, height, width = data1.shape
    radius, grid_r, grid_w = geo.kernel_radius, geo.grid_radius, geo.grid_width
    # zero-padded copies so every read position is inside
    margin = op.max_displacement + 2 * radius + op.pad_size
    p1, p2 = ops.pad_center(data1, margin), ops.pad_center(data2, margin)
    y = ops.arange(geo.out_h, ops.int64, data1)[:, None] * op.stride1
    x = ops.arange(geo.out_w, ops.int64, data1)[None, :] * op.stride1
    base = radius + op.max_displacement - op.pad_size + margin
    outs = []
    for c in range(grid_w * grid_w):
        dx = (c % grid_w - grid_r) * op.stride2
        dy = (c // grid_w - grid_r) * op.stride2
        total = None
        for i in range(-radius, radius + 1):
            for j in range(-radius, radius + 1):
                a = p1[:, :, base + y + j, base + x + i]  # (n, ch, oh, ow)
                b = p2[:, :, base + y + j + dy, base + x + i + dx]
                for k in range(ch):
                    term = a[:, k] * b[:, k] if op.is_multiply else ops.abs(a[:, k] - b[:, k])
                    total = term if total is None else total + term
        outs.append(total / F32((2 * radius + 1) ** 2 * ch))
    return ops.stack(outs, 1)


@NUMPY.kernel(NMSKeep)
def nms_keep_kernel(op: NMSKeep, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return nms_keep(NUMPY_OPS, op, boxes)


@NUMPY.kernel(CountPrefix)
def count_prefix_kernel(op: CountPrefix, x: np.ndarray, count: np.ndarray) -> np.ndarray:
    return x[:op.checked_count(int(count.reshape(-1)[0]))]


@NUMPY.kernel(ROIAlignForward)
def roi_align_kernel(op: ROIAlignForward, src: np.ndarray,
                     rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return roi_align(NUMPY_OPS, op, src, rois)


@NUMPY.kernel(ROIPoolingForward)
def roi_pooling_kernel(op: ROIPoolingForward, src: np.ndarray,
                       rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return roi_pooling(NUMPY_OPS, op, src, rois)


@NUMPY.kernel(CorrelationForward)
def correlation_kernel(op: CorrelationForward, data1: np.ndarray,
                       data2: np.ndarray) -> np.ndarray:
    return correlation(NUMPY_OPS, op, data1, data2)


@NUMPY.kernel(DeformablePSROIPoolingForward)
def deformable_psroi_pooling_kernel(op: DeformablePSROIPoolingForward, src: np.ndarray,
                                    rois: np.ndarray,
                                    trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return deformable_psroi_pooling(NUMPY_OPS, op, src, rois, trans)
