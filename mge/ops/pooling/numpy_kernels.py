"""numpy kernels: ``PoolingForward``, ``AdaptivePoolingForward`` and ``PoolingBackward``.

Windows are reduced one kernel offset at a time (``window_h * window_w`` strided slices
of the padded input), which is much faster than reducing a sliding-window view.
"""

from __future__ import annotations

import numpy as np

from ..registry import NUMPY, Prepared, PrepareSite
from . import AdaptivePoolingForward, PoolingBackward, PoolingForward


def _reduce_windows(op: PoolingForward, x: np.ndarray, fill: float, reduce: np.ufunc) -> np.ndarray:
    """``reduce`` over every pooling window of NCHW ``x`` padded with ``fill``."""
    ph, pw, sh, sw = op.pad_h, op.pad_w, op.stride_h, op.stride_w
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh = (x.shape[2] - op.window_h) // sh + 1
    ow = (x.shape[3] - op.window_w) // sw + 1
    out = None
    for i in range(op.window_h):
        for j in range(op.window_w):
            part = x[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]
            out = part.copy() if out is None else reduce(out, part, out=out)
    return out


@NUMPY.kernel(PoolingForward)
def pooling(op: PoolingForward, x: np.ndarray) -> np.ndarray:
    dtype = x.dtype
    if op.format == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    if op.mode == "MAX":
        out = _reduce_windows(op, x, -np.inf, np.maximum)
    else:
        out = _reduce_windows(op, x.astype(np.float32), 0.0, np.add)
        if op.mode == "AVERAGE":
            out /= op.window_h * op.window_w
        else:
            ones = np.ones((1, 1, *x.shape[2:]), np.float32)
            out /= _reduce_windows(op, ones, 0.0, np.add)
    if op.format == "NHWC":
        out = out.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out, dtype=dtype)


@NUMPY.kernel(AdaptivePoolingForward)
def adaptive_pooling(op: AdaptivePoolingForward, x: np.ndarray) -> np.ndarray:
    return pooling(op.as_pooling(x.shape), x)


@NUMPY.kernel(PoolingBackward)
def pooling_backward(op: PoolingBackward, x: np.ndarray, y: np.ndarray, dy: np.ndarray
                     ) -> np.ndarray:
    """Each window's gradient added to every cell equal to its maximum."""
    dtype = x.dtype
    if op.format == "NHWC":
        x, y, dy = (t.transpose(0, 3, 1, 2) for t in (x, y, dy))
    ph, pw, sh, sw = op.pad_h, op.pad_w, op.stride_h, op.stride_w
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    dxp = np.zeros(xp.shape, np.float32)
    oh, ow = y.shape[2:]
    dyf = dy.astype(np.float32)
    for i in range(op.window_h):
        for j in range(op.window_w):
            cell = (slice(None), slice(None), slice(i, i + sh * (oh - 1) + 1, sh),
                    slice(j, j + sw * (ow - 1) + 1, sw))
            dxp[cell] += np.where(xp[cell] == y, dyf, np.float32(0))
    dx = dxp[:, :, ph: ph + x.shape[2], pw: pw + x.shape[3]]
    if op.format == "NHWC":
        dx = dx.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(dx, dtype=dtype)


@NUMPY.preparer(PoolingForward)
def prepare_pooling(op: PoolingForward, site: PrepareSite) -> Prepared | None:
    """Global average pooling of float32 NCHW data: a mean."""
    shape = site.inputs[0].shape
    if site.host is None or op.format != "NCHW" or op.mode == "MAX" or \
            not op.covers_input(shape) or site.inputs[0].dtype != np.float32:
        return None
    return Prepared(lambda x: x.mean(axis=(2, 3), keepdims=True), (0,))
