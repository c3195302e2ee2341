"""Op-table cases for Reduce, Argmax, Argmin, TopK and ArgsortForward."""

from __future__ import annotations

import numpy as np

from mge.ops.reduce import (
    REDUCE_ALL,
    REDUCE_MODES,
    Argmax,
    Argmin,
    ArgsortForward,
    Cumsum,
    Reduce,
    TopK,
)

from .optable import OpCase, rand

_X = rand(3, 4, 5, low=0.5, high=1.5)
_I = rand(3, 4, dtype="int32", low=-50, high=50)
_ROWS = rand(4, 7)

CASES = [
    OpCase(Reduce(mode=m, axis=1), [_X], id=f"Reduce-{m}-axis1", rtol=1e-4) for m in REDUCE_MODES
]
CASES += [OpCase(Reduce(mode=m), [_X], id=f"Reduce-{m}-all", rtol=1e-4) for m in REDUCE_MODES]
CASES += [
    OpCase(Reduce(mode=m, axis=-1), [_I], id=f"Reduce-{m}-int") for m in REDUCE_MODES
]
CASES += [
    OpCase(Reduce(mode="SUM", axis=0), [rand(0, 3)], id="Reduce-SUM-empty"),
    OpCase(Reduce(mode="PRODUCT", axis=0), [rand(0, 3)], id="Reduce-PRODUCT-empty"),
    OpCase(Reduce(mode="MEAN", axis=0), [rand(0, 3)], id="Reduce-MEAN-empty"),
    OpCase(Reduce(mode="SUM", axis=REDUCE_ALL), [np.full((40,), 100, np.int8)],
           id="Reduce-SUM-int8-wraps"),
    OpCase(Reduce(mode="SUM", axis=1), [rand(2, 9, dtype="float16")], id="Reduce-SUM-f16",
           atol=1e-2, rtol=1e-3),
    OpCase(Reduce(mode="MEAN", axis=1, data_type="FLOAT_O32xC32"), [rand(2, 9, dtype="float16")],
           id="Reduce-MEAN-O32", rtol=1e-3),
    OpCase(Reduce(mode="MAX", axis=0), [rand(3, 2, dtype="uint8", low=0, high=255)],
           id="Reduce-MAX-u8"),
    OpCase(Argmax(axis=1), [_X]),
    OpCase(Argmax(axis=-1), [_I], id="Argmax-int"),
    OpCase(Argmin(axis=0), [_X]),
    OpCase(Argmin(axis=0), [np.array([3, 1, 1, 2], np.float32)], id="Argmin-ties-first"),
    OpCase(TopK(k=3), [_ROWS]),
    OpCase(TopK(k=-2), [_ROWS], id="TopK-largest"),
    OpCase(TopK(mode="KTH_ONLY", k=-3), [_ROWS], id="TopK-kth"),
    OpCase(TopK(mode="VALUE_IDX_NOSORT", k=7), [_ROWS], id="TopK-nosort-all"),
    OpCase(TopK(k=-2), [np.array([[1, 5, 5, 2]], np.int32)], id="TopK-ties-int"),
    OpCase(ArgsortForward(), [_ROWS]),
    OpCase(ArgsortForward(order="DESCENDING"), [np.array([[2, 7, 2, 7, 1]], np.float32)],
           id="Argsort-desc-ties"),
    OpCase(ArgsortForward(), [rand(3, 0)], id="Argsort-empty-rows"),
]
CASES += [
    OpCase(Cumsum(axis=1, exclusive=False), [rand(3, 5, 2)], rtol=1e-5, atol=1e-5),
    OpCase(Cumsum(axis=0, exclusive=True, reverse=True), [rand(4, 3)], id="Cumsum-excl-rev",
           rtol=1e-5, atol=1e-5),
    OpCase(Cumsum(axis=-1, exclusive=False, reverse=True),
           [rand(2, 6, dtype="int32", low=-9, high=9)], id="Cumsum-int32"),
    OpCase(Cumsum(axis=0, exclusive=True), [rand(0, 3)], id="Cumsum-empty"),
]
