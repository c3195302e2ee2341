"""numpy kernels: ``PoolingForward`` and ``AdaptivePoolingForward`` over sliding windows."""

from __future__ import annotations

import numpy as np

from ...ops.pooling import AdaptivePoolingForward, PoolingForward
from . import BACKEND
from .conv import windows


@BACKEND.kernel(PoolingForward.type_name)
def pooling(op: PoolingForward, x: np.ndarray) -> np.ndarray:
    dtype = x.dtype
    if op.format == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    geometry = ((op.window_h, op.window_w), (op.stride_h, op.stride_w), (op.pad_h, op.pad_w))
    if op.mode == "MAX":
        out = windows(x, *geometry, fill=-np.inf).max(axis=(-2, -1))
    else:
        out = windows(x, *geometry).sum(axis=(-2, -1), dtype=np.float32)
        if op.mode == "AVERAGE":
            out /= op.window_h * op.window_w
        else:
            ones = np.ones((1, 1, *x.shape[2:]), np.float32)
            out /= windows(ones, *geometry).sum(axis=(-2, -1))
    if op.format == "NHWC":
        out = out.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out, dtype=dtype)


@BACKEND.kernel(AdaptivePoolingForward.type_name)
def adaptive_pooling(op: AdaptivePoolingForward, x: np.ndarray) -> np.ndarray:
    hw = x.shape[2:] if op.format == "NCHW" else x.shape[1:3]
    return pooling(op.as_pooling(hw), x)
