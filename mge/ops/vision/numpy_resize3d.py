"""numpy kernel of ``Resize3DForward`` (MegEngine 1.13's naive ``Resize3D``), written
against :class:`ArrayOps` so torch and the ONNX exporter run the same algorithm.

Per axis, in float32: ``scale = in / out`` (``(in - 1) / (out - 1)`` with
``align_corners``, 0 for an output of 1); source position ``scale * (i + 0.5) - 0.5``
clamped at 0 (``scale * i`` with ``align_corners``), truncated to the lower neighbour,
the upper one clamped to the edge; the eight corners are blended depth-outermost:
``t0 * (h0 * (w0 * a + w1 * b) + h1 * (...)) + t1 * (...)``, as MegEngine sums them.

Example:
    >>> x = np.arange(2, dtype=np.float32).reshape(1, 1, 2, 1, 1)
    >>> op = Resize3DForward(format="NCDHW", dsize=(4, 1, 1))
    >>> resize3d(NUMPY_OPS, op, x).ravel()
    array([0.  , 0.25, 0.75, 1.  ], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import NUMPY
from .numpy_kernels import NUMPY_OPS, ArrayOps
from .resize3d import Resize3DForward


def _axis_table(isize: int, osize: int, align_corners: bool) -> tuple[np.ndarray, ...]:
    """Per output index: lower and upper source index (int64) and their float32 weights."""
    if align_corners:
        scale = np.float32(isize - 1) / np.float32(osize - 1) if osize > 1 else np.float32(0)
        pos = scale * np.arange(osize, dtype=np.float32)
    else:
        scale = np.float32(isize) / np.float32(osize)
        pos = scale * (np.arange(osize, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
        pos = np.maximum(pos, np.float32(0))
    low = pos.astype(np.int64)
    high = low + (low < isize - 1)
    w1 = (pos - low.astype(np.float32)).astype(np.float32)
    return low, high, np.float32(1) - w1, w1


def resize3d(ops: ArrayOps, op: Resize3DForward, src: Any) -> Any:
    """``Resize3DForward`` on ``(n, c, d, h, w)`` ``src`` (float32 math, cast back)."""
    x = ops.cast(src, ops.float32)
    tables = [_axis_table(x.shape[2 + k], op.dsize[k], bool(op.align_corners))
              for k in range(3)]

    def along(v: Any, idx: np.ndarray, axis: int) -> Any:
        return v[(slice(None),) * axis + (ops.from_numpy(idx, src),)]

    def weight(w: np.ndarray, axis: int) -> Any:
        return ops.from_numpy(w.reshape((-1,) + (1,) * (4 - axis)), src)

    (t_lo, t_hi, t0, t1), (h_lo, h_hi, h0, h1), (w_lo, w_hi, w0, w1) = tables
    wt0, wt1, wh0, wh1 = weight(t0, 2), weight(t1, 2), weight(h0, 3), weight(h1, 3)
    ww0, ww1 = weight(w0, 4), weight(w1, 4)

    def plane(t_idx: np.ndarray) -> Any:
        xt = along(x, t_idx, 2)
        rows = []
        for h_idx in (h_lo, h_hi):
            xh = along(xt, h_idx, 3)
            rows.append(ww0 * along(xh, w_lo, 4) + ww1 * along(xh, w_hi, 4))
        return wh0 * rows[0] + wh1 * rows[1]

    out = wt0 * plane(t_lo) + wt1 * plane(t_hi)
    return ops.cast(out, ops.dtype_of(src))


@NUMPY.kernel(Resize3DForward)
def resize3d_kernel(op: Resize3DForward, src: np.ndarray) -> np.ndarray:
    return resize3d(NUMPY_OPS, op, src)
