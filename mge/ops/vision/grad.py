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

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.opdef import TensorInfo
from ..nn import MatrixMul
from ..registry import grad_rule
from ..shape import (
    Concat,
    Dimshuffle,
    IndexingIncrMultiAxisVec,
    IndexingMultiAxisVec,
    Padding,
    SetSubtensor,
    Subtensor,
)
from . import ResizeForward, WarpPerspectiveForward, warp_uses_cv_kernel
from .detection import CorrelationForward, ROIAlignForward, ROIPoolingForward, correlation_geometry
from .grad_positions import position_grads, warp_mat_grad
from .numpy_detection import roi_align_samples, roi_pooling_bins
from .numpy_kernels import (
    INT_MIN,
    NUMPY_OPS,
    _to_int,
    border_index,
    warp_dnn_corners,
    warp_dnn_positions,
)
from .remap import RemapForward, WarpAffineForward

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
    oh, ow = dy.shape[2:]  # the size input's value, when the op has one, not ``op.dsize``
    op = dataclasses.replace(op, dsize=(oh, ow))
    aht, awt = _axis_matrix(op, ctx, dy, h, 2), _axis_matrix(op, ctx, dy, w, 3)
    cols = ctx.one(MatrixMul(transposeB=True), ctx.reshape(dy, (n * c * oh, ow)), awt)
    rows = ctx.one(Dimshuffle(pattern=(0, 2, 1)), ctx.reshape(cols, (n * c, oh, w)))
    dx = ctx.one(MatrixMul(transposeB=True), ctx.reshape(rows, (n * c * w, oh)), aht)
    dx = ctx.one(Dimshuffle(pattern=(0, 2, 1)), ctx.reshape(dx, (n * c, w, h)))
    return [ctx.reshape(dx, x.shape)] + [None] * (len(ctx.inputs) - 1)  # no size gradient


class _Triples:
    """``(output position, input position, weight)`` triples of a gather: positions are
    ``(roi or image, channel, row, column)`` index arrays, or ``(image, row, column)`` for
    positions every channel shares; ``fmt`` places the axes (NCHW or NHWC)."""

    def __init__(self, fmt: str = "NCHW") -> None:
        self.fmt = fmt
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
        if self.fmt == "NCHW":
            axes = (0, 2, 3) if n == 3 else (0, 1, 2, 3)
        else:
            axes = (0, 1, 2) if n == 3 else (0, 3, 1, 2)
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
    # every cell of every bin, vectorized: bin (k, p, q) holds nh * nw cells
    k, p, q = (a.reshape(-1) for a in np.indices((r.shape[0], *op.dsize)))
    nh = np.maximum(he - hs, 0)[k, p]
    nw = np.maximum(we - ws, 0)[k, q]
    count = nh * nw
    cell = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    k, p, q, nw = (np.repeat(a, count) for a in (k, p, q, nw))
    rows, cols = hs[k, p] + cell // nw, ws[k, q] + cell % nw
    weight = (1.0 / np.repeat(count, count)).astype(np.float32)
    triples.add((k, p, q), (batch[k], rows, cols), weight)
    return [triples.scatter(ctx, x, ctx.grad(0), index), None]


def _bilinear_triples(triples: _Triples, batch: np.ndarray, cols: tuple, rows: tuple,
                      fx: np.ndarray, fy: np.ndarray) -> None:
    """Bilinear corners ``(rows[i], cols[j])`` (``-1``: outside, no gradient) of every
    output pixel with weights from the fractions ``fx``, ``fy``."""
    n, oh, ow = fx.shape
    k, p, q = np.indices((n, oh, ow))
    b = np.broadcast_to(batch, fx.shape)
    for i, wy in enumerate((1 - fy, fy)):
        for j, wx in enumerate((1 - fx, fx)):
            inside = (rows[i] >= 0) & (cols[j] >= 0)
            weight = np.where(inside, wy * wx, 0).astype(np.float32)
            triples.add((k, p, q), (b, rows[i], cols[j]), weight)


def _warp_dnn_grad(op: WarpPerspectiveForward, ctx: GradContext, mat: np.ndarray,
                   batch: np.ndarray) -> Tensor:
    x = ctx.inputs[0]
    height, width = (x.shape[2], x.shape[3]) if op.format == "NCHW" else x.shape[1:3]
    aw, ah = warp_dnn_positions(NUMPY_OPS, op, mat, mat)
    fw, fh = np.floor(aw), np.floor(ah)
    triples = _Triples(op.format)
    _bilinear_triples(triples, batch, warp_dnn_corners(NUMPY_OPS, fw, width, op.bmode),
                      warp_dnn_corners(NUMPY_OPS, fh, height, op.bmode), aw - fw, ah - fh)
    return triples.scatter(ctx, x, ctx.grad(0), _int_like(ctx, x))


def _int_like(ctx: GradContext, x: Tensor) -> Tensor:
    return ctx.const(0, x, ()).astype("int32")


def _check_dnn(op: WarpPerspectiveForward, x: Tensor, named: Any) -> None:
    """Refuse (naming ``named``) what the dnn kernel does not run: the rules follow it."""
    if x.dtype.kind != "f" or warp_uses_cv_kernel(op, TensorInfo(tuple(x.shape), x.dtype)):
        raise NotImplementedError(f"no gradient rule for {named} on {x.dtype} {tuple(x.shape)} "
                                  "(MegEngine's OpenCV-derived kernel samples at 1/32 pixel)")


@grad_rule(WarpPerspectiveForward)
def warp_perspective_grad(op: WarpPerspectiveForward, ctx: GradContext) -> Grads:
    """The image: each output pixel's ``dy`` added to its four bilinear corners (border
    modes as the kernel maps them; CONSTANT's outside corners take none); the matrix: see
    :mod:`.grad_positions`."""
    x, mat, *idx = ctx.inputs
    _check_dnn(op, x, op)
    m = mat.numpy()
    batch = (idx[0].numpy().astype(np.int64) if idx else np.arange(m.shape[0]))[:, None, None]
    return [_warp_dnn_grad(op, ctx, m, batch) if ctx.needs(0) else None,
            warp_mat_grad(op, ctx, m, batch) if ctx.needs(1) else None, *([None] * len(idx))]


@grad_rule(WarpAffineForward)
def warp_affine_grad(op: WarpAffineForward, ctx: GradContext) -> Grads:
    """As the perspective warp's, with the matrix row ``(0, 0, 1)`` (MegEngine's dnn
    kernel; the matrix gradient keeps the first two rows); the OpenCV-derived kernel
    (NHWC, 1-3 channels) has no rule."""
    x, mat = ctx.inputs
    same = WarpPerspectiveForward(imode=op.imode, bmode=op.border_mode, format=op.format,
                                  border_val=op.border_val, dsize=op.dsize)
    _check_dnn(same, x, op)
    m = mat.numpy()
    m = np.concatenate([m, np.broadcast_to(np.array([[[0, 0, 1]]], np.float32),
                                           (m.shape[0], 1, 3))], 1)
    batch = np.arange(m.shape[0])[:, None, None]
    dmat = None
    if ctx.needs(1):
        dmat = ctx.one(Subtensor(items=((1, 0, 2, None, None),)),
                       warp_mat_grad(same, ctx, m, batch))
    return [_warp_dnn_grad(same, ctx, m, batch) if ctx.needs(0) else None, dmat]


@grad_rule(RemapForward)
def remap_grad(op: RemapForward, ctx: GradContext) -> Grads:
    """The image: ``dy`` to the nearest pixel (NEAREST) or the four bilinear corners
    (LINEAR), through the border mode. The map: the bilinear slopes against ``dy`` (see
    :mod:`.grad_positions`); zero for NEAREST, which is piecewise constant."""
    x, map_xy = ctx.inputs
    if x.dtype.kind != "f":
        raise NotImplementedError(f"no gradient rule for {op} on {x.dtype}")
    height, width = (x.shape[2], x.shape[3]) if op.format == "NCHW" else x.shape[1:3]
    fx, fy = map_xy.numpy()[..., 0], map_xy.numpy()[..., 1]
    batch = np.arange(fx.shape[0])[:, None, None]
    triples = _Triples(op.format)

    def index(f: np.ndarray, step: int, length: int) -> np.ndarray:
        return border_index(NUMPY_OPS, _to_int(NUMPY_OPS, f, INT_MIN) + step, length,
                            op.border_type)

    if op.imode == "NEAREST":
        fx, fy = np.rint(fx), np.rint(fy)
        _bilinear_triples(triples, batch, (index(fx, 0, width),) * 2,
                          (index(fy, 0, height),) * 2, np.zeros_like(fx), np.zeros_like(fy))
        dmap = ctx.const(0.0, map_xy, tuple(map_xy.shape)) if ctx.needs(1) else None
    else:
        col, row = np.floor(fx), np.floor(fy)
        rows = (index(row, 0, height), index(row, 1, height))
        cols = (index(col, 0, width), index(col, 1, width))
        _bilinear_triples(triples, batch, cols, rows, fx - col, fy - row)
        dmap = None
        if ctx.needs(1):
            border = op.scalar if op.border_type == "CONSTANT" else None
            slopes = position_grads(ctx, op.format, batch, rows, cols, fx - col, fy - row,
                                    border)
            dmap = ctx.cast(ctx.one(Concat(axis=3), *slopes), map_xy)
    dx = triples.scatter(ctx, x, ctx.grad(0), _int_like(ctx, x)) if ctx.needs(0) else None
    return [dx, dmap]


def _window(start_h: int, start_w: int, oh: int, ow: int, stride: int) -> Subtensor:
    """The ``(oh, ow)`` strided window of an NCHW tensor starting at ``(start_h, start_w)``."""
    return Subtensor(items=((2, start_h, start_h + (oh - 1) * stride + 1, stride, None),
                            (3, start_w, start_w + (ow - 1) * stride + 1, stride, None)))


def _add_into(ctx: GradContext, g: Tensor, window: Subtensor, value: Tensor) -> Tensor:
    """``g`` with ``value`` added to ``g[window]``."""
    part = ctx.ew("ADD", ctx.one(window, g), value)
    return ctx.one(SetSubtensor(items=window.items), g, part)


@grad_rule(CorrelationForward)
def correlation_grad(op: CorrelationForward, ctx: GradContext) -> Grads:
    """Both inputs, on zero-padded copies as the kernel reads them: for each displacement
    and window offset, ``dy`` times the other input's window (multiply), or ``dy`` times
    the sign of the difference (absolute difference), over the window size and channels."""
    a, b = ctx.inputs
    n, ch, height, width = a.shape
    geo = correlation_geometry(op, tuple(a.shape))
    radius, grid_r, grid_w = geo.kernel_radius, geo.grid_radius, geo.grid_width
    margin = op.max_displacement + 2 * radius + op.pad_size
    pad = Padding.from_pad_width(((0, 0), (0, 0), (margin, margin), (margin, margin)))
    p1, p2 = ctx.one(pad, a), ctx.one(pad, b)
    g1, g2 = (ctx.const(0.0, a, tuple(p1.shape)) for _ in range(2))
    base = radius + op.max_displacement - op.pad_size + margin
    oh, ow, s1 = geo.out_h, geo.out_w, op.stride1
    dy = ctx.ew("TRUE_DIV", ctx.grad(0), float((2 * radius + 1) ** 2 * ch))
    for c in range(grid_w * grid_w):
        dc = ctx.reshape(ctx.one(Subtensor(items=((1, c, c + 1, None, None),)), dy),
                         (n, 1, oh, ow))
        shift_w = (c % grid_w - grid_r) * op.stride2
        shift_h = (c // grid_w - grid_r) * op.stride2
        for i in range(-radius, radius + 1):
            for j in range(-radius, radius + 1):
                w1 = _window(base + j, base + i, oh, ow, s1)
                w2 = _window(base + j + shift_h, base + i + shift_w, oh, ow, s1)
                x1, x2 = ctx.one(w1, p1), ctx.one(w2, p2)
                if op.is_multiply:
                    d1, d2 = ctx.ew("MUL", dc, x2), ctx.ew("MUL", dc, x1)
                else:
                    d1 = ctx.ew("MUL", dc, ctx.ew("SIGN", ctx.ew("SUB", x1, x2)))
                    d2 = ctx.ew("NEGATE", d1)
                g1, g2 = _add_into(ctx, g1, w1, d1), _add_into(ctx, g2, w2, d2)
    inner = Subtensor(items=((2, margin, margin + height, None, None),
                             (3, margin, margin + width, None, None)))
    return [ctx.one(inner, g1), ctx.one(inner, g2)]


__all__ = ["correlation_grad", "remap_grad", "resize_grad", "roi_align_grad",
           "roi_pooling_grad", "warp_affine_grad", "warp_perspective_grad"]
