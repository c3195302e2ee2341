"""Op-table cases for PoolingForward, AdaptivePoolingForward and PoolingBackward."""

from __future__ import annotations

import dataclasses

import numpy as np

from mge.backends import load_backend
from mge.ops.pooling import AdaptivePoolingForward, PoolingBackward, PoolingForward

from .optable import OpCase, rand

_MODES = ("MAX", "AVERAGE", "AVERAGE_COUNT_EXCLUDE_PADDING")

CASES = [
    OpCase(PoolingForward(mode=mode, window_h=3, window_w=3, stride_h=2, stride_w=2, pad_h=1,
                          pad_w=1), [rand(2, 3, 9, 8)], id=f"Pooling-{mode}-pad")
    for mode in _MODES
]
CASES += [
    OpCase(PoolingForward(mode=mode, window_h=3, window_w=2, stride_h=1, stride_w=2, pad_h=2,
                          pad_w=1), [rand(1, 2, 6, 7)], id=f"Pooling-{mode}-wide-pad")
    for mode in _MODES
]
CASES += [
    OpCase(PoolingForward(), [rand(1, 3, 8, 8)]),
    OpCase(PoolingForward(mode="AVERAGE", format="NHWC", pad_h=1), [rand(2, 5, 6, 3)],
           id="Pooling-NHWC"),
    OpCase(PoolingForward(mode="MAX", window_h=3, window_w=3, pad_h=1, pad_w=1),
           [rand(0, 3, 7, 7)], id="Pooling-zero-batch"),
    OpCase(PoolingForward(mode="AVERAGE_COUNT_EXCLUDE_PADDING", pad_h=1, pad_w=1),
           [rand(1, 2, 5, 5, dtype="float16")], id="Pooling-float16", atol=1e-3, rtol=1e-3),
    OpCase(AdaptivePoolingForward(mode="AVERAGE", oshp=(4, 3)), [rand(2, 3, 10, 10)],
           id="AdaptivePooling-avg-uneven"),
    OpCase(AdaptivePoolingForward(mode="MAX", oshp=(1, 1)), [rand(1, 4, 7, 7)],
           id="AdaptivePooling-global-max"),
    OpCase(AdaptivePoolingForward(mode="AVERAGE", format="NHWC", oshp=(2, 3)),
           [rand(1, 5, 7, 2)], id="AdaptivePooling-NHWC"),
    OpCase(AdaptivePoolingForward(mode="MAX", oshp=(3, 3)), [rand(1, 2, 3, 3, dtype="float16")],
           id="AdaptivePooling-identity-float16"),
]


def _backward_case(op: PoolingBackward, x: np.ndarray, **kw: object) -> OpCase:
    """``src, dst, diff`` with ``dst`` the max pooling of ``src``."""
    fields = {f.name: getattr(op, f.name) for f in dataclasses.fields(op)}
    y = load_backend("numpy").run(PoolingForward(**fields), [x])
    return OpCase(op, [x, y, rand(*y.shape, dtype=str(x.dtype), seed=1)], **kw)


_TIED = np.round(rand(2, 3, 9, 8))  # few distinct values: windows with tied maxima
CASES += [
    _backward_case(PoolingBackward(window_h=3, window_w=3, pad_h=1, pad_w=1), _TIED,
                   id="PoolingBackward-overlap-ties"),
    _backward_case(PoolingBackward(window_h=3, window_w=2, stride_h=1, pad_h=2, pad_w=1),
                   rand(1, 2, 6, 7), id="PoolingBackward-wide-pad"),
    _backward_case(PoolingBackward(format="NHWC"), rand(2, 6, 4, 3), id="PoolingBackward-NHWC"),
    _backward_case(PoolingBackward(), rand(1, 2, 4, 4, dtype="float16"),
                   id="PoolingBackward-float16", atol=1e-3, rtol=1e-3),
]
