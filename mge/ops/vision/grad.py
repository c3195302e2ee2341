"""Gradient rules of the vision family: ``ResizeForward`` (NCHW), ``ROIAlignForward`` and
``ROIPoolingForward``.

Every resize mode interpolates each spatial axis on its own (the weights are a product
of per-axis weights), so a resize is ``y = A_h x A_w^T`` with fixed matrices, and its
gradient is ``dx = A_h^T dy A_w``. The rule obtains ``A_h`` and ``A_w`` by resizing
identity images with the op itself (one channel per source row or column, the other
axis of size 1), so the gradient follows the kernel's exact coordinate mapping.

The RoI ops read every output element from a few feature-map positions with fixed
weights (bilinear corners of the samples, the argmax, or a bin's cells), which depend only
on the rois and, for max pooling, on the argmax output. Their rules list these
``(output position, input position, weight)`` triples on the host, with the kernels' own
position arithmetic (:func:`roi_align_samples`, :func:`roi_pooling_bins`), gather ``dy`` at
the output positions and scatter-add it, weighted, at the input positions
(``IndexingMultiAxisVec`` then ``IndexingIncrMultiAxisVec``). As in MegEngine, the rois get
no gradient.

Example:
    >>> ResizeForward.grad_rule is resize_grad
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..nn import MatrixMul
from ..registry import grad_rule
from ..shape import Dimshuffle, IndexingIncrMultiAxisVec, IndexingMultiAxisVec, Subtensor
from . import ResizeForward
from .detection import ROIAlignForward, ROIPoolingForward
from .numpy_detection import roi_align_samples, roi_pooling_bins
from .numpy_kernels import NUMPY_OPS

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]


def _axis_matrix(op: ResizeForward, ctx: GradContext, like: Tensor, size: int, axis: int
                 ) -> Tensor:
    """``A^T`` of spatial ``axis`` (2: rows, 3: columns): ``(size, out_size)``."""
    shape = (1, size, size, 1) if axis == 2 else (1, size, 1, size)
    eye = np.eye(size, dtype=like.dtype).reshape(shape)
    probe = ctx.one(op, ctx.const(eye, like, shape))
    other = 5 - axis
    items = ((0, 0, 1, 1, None), (other, 0, 1, 1, None))
    picked = ctx.one(Subtensor(items=items), probe)
    return ctx.reshape(picked, (size, op.dsize[axis - 2]))


@grad_rule(ResizeForward)
def resize_grad(op: ResizeForward, ctx: GradContext) -> Grads:
    """``dx = A_h^T dy A_w`` (NCHW float images)."""
    if op.format != "NCHW":
        raise NotImplementedError(f"no gradient rule for {op} (NCHW only)")
    x, dy = ctx.inputs[0], ctx.grad(0)
    n, c, h, w = x.shape
    oh, ow = op.dsize
    aht, awt = _axis_matrix(op, ctx, dy, h, 2), _axis_matrix(op, ctx, dy, w, 3)
    cols = ctx.one(MatrixMul(transposeB=True), ctx.reshape(dy, (n * c * oh, ow)), awt)
    rows = ctx.one(Dimshuffle(pattern=(0, 2, 1)), ctx.reshape(cols, (n * c, oh, w)))
    dx = ctx.one(MatrixMul(transposeB=True), ctx.reshape(rows, (n * c * w, oh)), aht)
    dx = ctx.one(Dimshuffle(pattern=(0, 2, 1)), ctx.reshape(dx, (n * c, w, h)))
    return [ctx.reshape(dx, x.shape)]


class _Triples:
    """``(output position, input position, weight)`` triples of an NCHW gather: positions
    are ``(roi or image, channel, row, column)`` index arrays; a channel of ``None`` means
    every channel (the same positions for all)."""

    def __init__(self) -> None:
        self.parts: list[tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], np.ndarray]] = []

    def add(self, out: tuple, src: tuple, weight: np.ndarray) -> None:
        keep = weight != 0
        self.parts.append((tuple(np.asarray(a)[keep] for a in out),
                           tuple(np.asarray(a)[keep] for a in src), weight[keep]))

    def scatter(self, ctx: GradContext, x: Tensor, dy: Tensor, like_int: Tensor) -> Tensor:
        """``dx``: ``dy`` gathered at the output positions, weighted, added at the inputs."""
        zero = ctx.const(0.0, x, x.shape)
        cat = [np.concatenate(arrays) for arrays in zip(*(o + s for o, s, _ in self.parts))]
        weight = np.concatenate([w for _, _, w in self.parts]) if self.parts else None
        if weight is None or not weight.size:
            return zero
        n = len(self.parts[0][0])
        axes = (0, 2, 3) if n == 3 else (0, 1, 2, 3)
        items = tuple((a, None, None, None, True) for a in axes)
        idx = [ctx.const(a.astype(np.int32), like_int, a.shape) for a in cat]
        picked = ctx.one(IndexingMultiAxisVec(items=items), dy, *idx[:n])
        shape = (weight.size,) + (1,) * (picked.ndim - 1)
        picked = ctx.ew("MUL", picked, ctx.const(weight.reshape(shape), dy, shape))
        return ctx.one(IndexingIncrMultiAxisVec(items=items), zero, picked, *idx[n:])


def _roi_batch(rois: np.ndarray) -> np.ndarray:
    return rois[:, 0].astype(np.int64)  # truncated, as the kernels' int cast


@grad_rule(ROIAlignForward)
def roi_align_grad(op: ROIAlignForward, ctx: GradContext) -> Grads:
    """Each sample's four bilinear corners inside the map get ``dy`` times their weight:
    all samples over their count (AVERAGE), or the argmax sample (MAX)."""
    x, rois = ctx.inputs
    index = ctx.outputs[1]
    height, width = x.shape[2], x.shape[3]
    r = rois.numpy()
    batch = _roi_batch(r)[:, None, None]
    argmax = index.numpy() if op.mode == "MAX" else None
    count = op.sample_height * op.sample_width
    triples = _Triples()
    for s, (h, w) in enumerate(roi_align_samples(NUMPY_OPS, op, r, r)):
        h0, w0 = np.floor(h), np.floor(w)
        fh, fw = h - h0, w - w0
        corners = ((0, 0, (1 - fh) * (1 - fw)), (0, 1, (1 - fh) * fw),
                   (1, 0, fh * (1 - fw)), (1, 1, fh * fw))
        for dh, dw, weight in corners:
            hi, wi = h0.astype(np.int64) + dh, w0.astype(np.int64) + dw
            weight = np.where((hi >= 0) & (hi < height) & (wi >= 0) & (wi < width), weight, 0)
            b, hi, wi, weight = np.broadcast_arrays(batch, hi, wi, weight)
            if argmax is None:
                k, p, q = np.indices(weight.shape)
                triples.add((k, p, q), (b, hi, wi), weight.astype(np.float32) / count)
                continue
            k, c, p, q = np.nonzero(argmax == s)
            triples.add((k, c, p, q), (b[k, p, q], c, hi[k, p, q], wi[k, p, q]),
                        weight[k, p, q].astype(np.float32))
    return [triples.scatter(ctx, x, ctx.grad(0), index), None]


@grad_rule(ROIPoolingForward)
def roi_pooling_grad(op: ROIPoolingForward, ctx: GradContext) -> Grads:
    """MAX: ``dy`` to the argmax cell of each bin; AVERAGE: ``dy`` over the bin's cell count
    to each of its cells (empty bins give nothing)."""
    x, rois = ctx.inputs
    index = ctx.outputs[1]
    width = x.shape[3]
    r = rois.numpy()
    batch = _roi_batch(r)
    triples = _Triples()
    if op.mode == "MAX":
        arg = index.numpy()
        k, c, p, q = np.nonzero(arg >= 0)
        flat = arg[k, c, p, q]
        triples.add((k, c, p, q), (batch[k], c, flat // width, flat % width),
                    np.ones(k.shape, np.float32))
        return [triples.scatter(ctx, x, ctx.grad(0), index), None]
    hs, he, ws, we = roi_pooling_bins(NUMPY_OPS, op, r, x.shape[2], width, r)
    for k in range(r.shape[0]):
        for p in range(op.dsize[0]):
            for q in range(op.dsize[1]):
                rows, cols = np.arange(hs[k, p], he[k, p]), np.arange(ws[k, q], we[k, q])
                if not rows.size or not cols.size:
                    continue
                hh, ww = (a.reshape(-1) for a in np.meshgrid(rows, cols, indexing="ij"))
                full = np.full(hh.shape, 1, np.int64)
                triples.add((full * k, full * p, full * q), (full * batch[k], hh, ww),
                            np.full(hh.shape, 1.0 / hh.size, np.float32))
    return [triples.scatter(ctx, x, ctx.grad(0), index), None]


__all__ = ["resize_grad", "roi_align_grad", "roi_pooling_grad"]
