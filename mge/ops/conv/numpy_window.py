"""numpy kernels of the window ops (:mod:`mge.ops.conv.window`), in float32."""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..registry import NUMPY
from .window import GroupLocal, Images2Neibs, SlidingWindowTranspose, WindowBase

F32 = np.dtype("float32")


def _neighbourhoods(op: WindowBase, x: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """``(N, C, OH, OW, KH, KW)`` view of the windows of a zero-padded NCHW ``x``."""
    x = np.pad(x, ((0, 0), (0, 0), (op.pad_h, op.pad_h), (op.pad_w, op.pad_w)))
    span = ((window[0] - 1) * op.dilate_h + 1, (window[1] - 1) * op.dilate_w + 1)
    view = sliding_window_view(x, span, axis=(2, 3))
    return view[:, :, ::op.stride_h, ::op.stride_w, ::op.dilate_h, ::op.dilate_w]


@NUMPY.kernel(Images2Neibs)
def images2neibs(op: Images2Neibs, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(_neighbourhoods(op, x, (op.window_h, op.window_w)))


@NUMPY.kernel(SlidingWindowTranspose)
def sliding_window_transpose(op: SlidingWindowTranspose, x: np.ndarray) -> np.ndarray:
    n, c, oh, ow, kh, kw = x.shape
    buf = np.zeros((n, c, op.out_h + 2 * op.pad_h, op.out_w + 2 * op.pad_w), F32)
    # each pixel sums its windows in raster order of the window positions (MegEngine's
    # order; a later position meets the pixel at an earlier tap)
    for i, j in itertools.product(reversed(range(kh)), reversed(range(kw))):
        top, left = i * op.dilate_h, j * op.dilate_w
        buf[:, :, top: top + op.stride_h * (oh - 1) + 1: op.stride_h,
            left: left + op.stride_w * (ow - 1) + 1: op.stride_w] += x[..., i, j]
    out = buf[:, :, op.pad_h: op.pad_h + op.out_h, op.pad_w: op.pad_w + op.out_w]
    return np.ascontiguousarray(out, dtype=x.dtype)


@NUMPY.kernel(GroupLocal)
def group_local(op: GroupLocal, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    groups, oh, ow, icpg, fh, fw, ocpg = w.shape
    n = x.shape[0]
    win = _neighbourhoods(op, x.astype(F32), (fh, fw)).reshape(n, groups, icpg, oh, ow, fh, fw)
    out = np.einsum("ngiyxhw,gyxihwo->ngoyx", win, w.astype(F32), optimize=True)
    return np.ascontiguousarray(out.reshape(n, groups * ocpg, oh, ow), dtype=x.dtype)
