"""Gradients with respect to sampling positions: the matrix of the dnn perspective warp
(``WarpPerspectiveForward``, and ``WarpAffineForward`` through it; MegEngine's
``WarpPerspectiveBackwardMat``) and the map of ``RemapForward`` (``RemapBackwardMat``).

An output pixel samples ``src`` at a position ``(aw, ah)`` with bilinear weights; with
``s_ij`` its four corner values (the border value outside a CONSTANT border, the
border-mapped pixels otherwise), ``d out / d aw = (1 - fh)(s01 - s00) + fh (s11 - s10)``
and ``d out / d ah = (1 - fw)(s10 - s00) + fw (s11 - s01)``; summed over channels against
``dy`` they are the map's gradient. For a warp, ``(aw, ah) = (M . (x, y, 1))[:2] /
(M . (x, y, 1))[2]``: they are chained through the quotient to the nine matrix entries
and summed over the output pixels. The corner values are gathered with ops (so
the rule runs on every backend); positions, fractions and quotient coefficients are
computed on the host with the kernel's own arithmetic.

Example:
    >>> from mge.ops.vision.grad_positions import quotient_coefficients
    >>> c_w, c_h = quotient_coefficients(np.eye(3, dtype=np.float32)[None], (1, 2))
    >>> c_w[0, 0, 1].tolist()  # d aw / d M at output (y=0, x=1) for the identity
    [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0, -0.0, -1.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..reduce import Reduce
from ..shape import Dimshuffle, IndexingMultiAxisVec
from . import WarpPerspectiveForward
from .numpy_kernels import NUMPY_OPS, warp_dnn_corners, warp_dnn_positions

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor


def quotient_coefficients(mat: np.ndarray, dsize: tuple[int, int]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``d aw / d M`` and ``d ah / d M``: ``(n, oh, ow, 9)`` float32, entries row-major."""
    oh, ow = dsize
    m = mat.astype(np.float64)
    x = np.arange(ow, dtype=np.float64)[None, None, :]
    y = np.arange(oh, dtype=np.float64)[None, :, None]
    row = [m[:, k // 3, k % 3][:, None, None] for k in range(9)]
    den = row[6] * x + row[7] * y + row[8]
    aw = (row[0] * x + row[1] * y + row[2]) / den
    ah = (row[3] * x + row[4] * y + row[5]) / den
    one, zero = np.ones_like(aw), np.zeros_like(aw)
    xs, ys = x + zero, y + zero
    quot = [xs / den, ys / den, one / den]
    c_w = [*quot, zero, zero, zero, *(-aw * q for q in quot)]
    c_h = [zero, zero, zero, *quot, *(-ah * q for q in quot)]
    return (np.stack(c_w, -1).astype(np.float32), np.stack(c_h, -1).astype(np.float32))


def position_grads(ctx: GradContext, fmt: str, batch: np.ndarray, rows: tuple, cols: tuple,
                   frac_w: np.ndarray, frac_h: np.ndarray, border: float | None
                   ) -> tuple[Tensor, Tensor]:
    """``dy``-weighted ``d out / d aw`` and ``d out / d ah``, ``(n, oh, ow, 1)``: corners
    at ``rows[i], cols[j]`` (``-1``: outside, worth ``border``) of ``ctx.inputs[0]``."""
    x = ctx.inputs[0]
    nchw = fmt == "NCHW"
    height, width = (x.shape[2], x.shape[3]) if nchw else x.shape[1:3]
    items = tuple((a, None, None, None, True) for a in ((0, 2, 3) if nchw else (0, 1, 2)))
    idx_like = ctx.const(0, x).astype("int32")
    b = np.broadcast_to(batch, frac_w.shape).astype(np.int32)

    def corner(i: int, j: int) -> Tensor:
        r, c = rows[i], cols[j]
        ids = [ctx.const(a, idx_like, a.shape) for a in
               (b, np.clip(r, 0, height - 1).astype(np.int32),
                np.clip(c, 0, width - 1).astype(np.int32))]
        vals = ctx.one(IndexingMultiAxisVec(items=items), x, *ids)  # (n, oh, ow, ch)
        if border is None:
            return vals
        keep = ((r >= 0) & (c >= 0))[..., None].astype(np.float32)
        fill = ctx.const((1 - keep) * np.float32(border), x, keep.shape)
        return ctx.ew("ADD", ctx.ew("MUL", vals, ctx.const(keep, x, keep.shape)), fill)

    s00, s01, s10, s11 = corner(0, 0), corner(0, 1), corner(1, 0), corner(1, 1)

    def lerp_diff(a: Tensor, b_: Tensor, c: Tensor, d: Tensor, t: np.ndarray) -> Tensor:
        """``(1 - t) (b - a) + t (d - c)``."""
        t = t[..., None].astype(np.float32)
        near = ctx.ew("MUL", ctx.ew("SUB", b_, a), ctx.const(1 - t, x, t.shape))
        far = ctx.ew("MUL", ctx.ew("SUB", d, c), ctx.const(t, x, t.shape))
        return ctx.ew("ADD", near, far)

    dy = ctx.grad(0)
    if nchw:
        dy = ctx.one(Dimshuffle(pattern=(0, 2, 3, 1)), dy)
    g_w = ctx.one(Reduce(mode="SUM", axis=3),
                  ctx.ew("MUL", dy, lerp_diff(s00, s01, s10, s11, frac_h)))
    g_h = ctx.one(Reduce(mode="SUM", axis=3),
                  ctx.ew("MUL", dy, lerp_diff(s00, s10, s01, s11, frac_w)))
    return g_w, g_h


def warp_mat_grad(op: WarpPerspectiveForward, ctx: GradContext, mat: np.ndarray,
                  batch: np.ndarray) -> Tensor:
    """``d mat`` ``(n, 3, 3)`` of the dnn warp of ``ctx.inputs[0]`` by the 3x3 ``mat``
    (``batch``: the image each matrix samples, ``(n, 1, 1)``)."""
    x = ctx.inputs[0]
    height, width = (x.shape[2], x.shape[3]) if op.format == "NCHW" else x.shape[1:3]
    aw, ah = warp_dnn_positions(NUMPY_OPS, op, mat, mat)
    fw, fh = np.floor(aw), np.floor(ah)
    g_w, g_h = position_grads(
        ctx, op.format, batch, warp_dnn_corners(NUMPY_OPS, fh, height, op.bmode),
        warp_dnn_corners(NUMPY_OPS, fw, width, op.bmode), aw - fw, ah - fh,
        op.border_val if op.bmode == "CONSTANT" else None)
    c_w, c_h = quotient_coefficients(mat, op.dsize)
    total = ctx.ew("ADD", ctx.ew("MUL", g_w, ctx.const(c_w, x, c_w.shape)),
                   ctx.ew("MUL", g_h, ctx.const(c_h, x, c_h.shape)))
    total = ctx.reduce("SUM", total, (1, 2))  # (n, 1, 1, 9)
    return ctx.reshape(ctx.cast(total, ctx.inputs[1]), (mat.shape[0], 3, 3))


__all__ = ["position_grads", "quotient_coefficients", "warp_mat_grad"]
