"""Op-table cases for the shape, creation and indexing ops (mge/ops/shape.py)."""

from __future__ import annotations

import numpy as np

from mge.ops import shape as S

from .optable import OpCase, rand

_X = rand(2, 3, 4)
_I32 = "int32"


def _idx(*values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.int32)


def _vec(axis: int) -> tuple:
    return (axis, None, None, None, True)


def _pad(mode: str, widths: list, **kw: object) -> S.Padding:
    return S.Padding.from_pad_width(widths, padding_mode=mode, **kw)


CASES = [
    OpCase(S.Reshape(shape=(4, -1)), [_X]),
    OpCase(S.Reshape(shape=(6, 4)), [_X], id="Reshape-static"),
    OpCase(S.Reshape(shape=(2, 1, 12), axis=2), [_X], id="Reshape-axis-param"),
    OpCase(S.Reshape(shape=(0, 5)), [rand(0, 3, 5)], id="Reshape-zero-size"),
    OpCase(S.Reshape(shape=()), [rand(1, 1)], id="Reshape-to-scalar"),
    OpCase(S.Reshape(shape=(4, -1)), [_X, _idx(4, -1)], id="Reshape-shape-input"),
    # MegEngine reads a float shape input whose entries are whole numbers
    OpCase(S.Reshape(shape=(4, -1)), [_X, np.array([4, -1], np.float32)],
           id="Reshape-float-shape-input"),
    OpCase(S.Broadcast(shape=(2, 2, 3, 4)), [rand(2, 1, 4)]),
    OpCase(S.Broadcast(shape=(2, 2, 3, 4)), [rand(2, 1, 4), _idx(2, 2, 3, 4)],
           id="Broadcast-shape-input"),
    OpCase(S.Broadcast(shape=(3, 0)), [rand(1)], id="Broadcast-zero"),
    OpCase(S.Broadcast(shape=(2, 3)), [np.array(True)], id="Broadcast-bool-scalar"),
    OpCase(S.Dimshuffle(pattern=(2, 0, 1)), [_X]),
    OpCase(S.Dimshuffle(pattern=(1, -1, 0), ndim=3), [rand(1, 3, 1)], id="Dimshuffle-new-axis"),
    OpCase(S.AxisAddRemove(desc=(("ADD_1", 0), ("ADD_1", -1))), [_X]),
    OpCase(S.AxisAddRemove(desc=(("REMOVE", 1), ("REMOVE", -1))), [rand(3, 1, 1)],
           id="AxisAddRemove-remove"),
    OpCase(S.AxisAddRemove(desc=(("REMOVE", 0),)), [rand(1, dtype=_I32)],
           id="AxisAddRemove-to-scalar"),
    OpCase(S.Concat(axis=1), [_X, rand(2, 1, 4), rand(2, 0, 4)]),
    OpCase(S.Concat(axis=-1), [rand(3, 2, dtype=_I32), rand(3, 5, dtype=_I32)],
           id="Concat-neg-int"),
    OpCase(S.Concat(axis=0), [rand(2, 3)], id="Concat-single"),
    OpCase(_pad("CONSTANT", [(0, 0), (1, 2), (3, 0)], padding_val=1.5), [_X]),
    OpCase(_pad("CONSTANT", [(1, 1)], padding_val=-2.7), [rand(3, dtype=_I32)],
           id="Padding-int"),
    OpCase(_pad("REPLICATE", [(0, 0), (0, 0), (2, 3), (1, 1)]), [rand(1, 2, 3, 4)],
           id="Padding-replicate"),
    OpCase(_pad("REFLECT", [(0, 0), (0, 0), (2, 1), (3, 3)]), [rand(1, 2, 3, 4)],
           id="Padding-reflect"),
    OpCase(S.GetVarShape(), [_X]),
    OpCase(S.GetVarShape(axis=-1), [_X], id="GetVarShape-axis"),
    OpCase(S.Fill(value=2.5, shape=(2, 3)), []),
    OpCase(S.Alloc(shape=(3, 1, 2)), []),
    OpCase(S.Fill(value=7, shape=(4,), dtype=_I32), [], id="Fill-int"),
    OpCase(S.Fill(value=1, shape=(0, 2), dtype="bool"), [], id="Fill-empty-bool"),
    OpCase(S.Linspace(start=-1, stop=2, num=7), []),
    OpCase(S.Linspace(start=0, stop=1, num=4, endpoint=False), [], id="Linspace-no-end"),
    OpCase(S.Linspace(start=3, stop=3, num=0), [], id="Linspace-empty"),
    OpCase(S.Eye(shape=(3, 3)), []),
    OpCase(S.Eye(k=-1, shape=(3, 5), dtype=_I32), [], id="Eye-k-int"),
    # traced sizes as input vars (MegEngine's form): the params are the traced values
    OpCase(S.Linspace(start=-1, stop=2, num=7), [np.float32([-1]), np.float32([2]),
                                                 np.int32([7])], id="Linspace-vars"),
    OpCase(S.Eye(shape=(3, 3)), [np.int32([3])], id="Eye-var"),
    OpCase(S.Eye(shape=(2, 4)), [np.int32([2, 4])], id="Eye-var-nm"),
    OpCase(S.Subtensor(items=((0, None, None, None, 1), (2, 1, None, 2, None))), [_X]),
    OpCase(S.Subtensor(items=((1, None, None, -1, None), (-1, -1, 0, -2, None))), [_X],
           id="Subtensor-neg-steps"),
    OpCase(S.Subtensor(items=((0, 5, 9, None, None),)), [_X], id="Subtensor-empty"),
    OpCase(S.Subtensor(items=((0, None, None, None, -1),)), [rand(4, dtype=_I32)],
           id="Subtensor-to-scalar"),
    OpCase(S.SetSubtensor(items=((1, None, None, -2, None),)), [_X, rand(2, 2, 4, seed=1)]),
    OpCase(S.SetSubtensor(items=((0, None, None, None, 1), (2, 0, 3, None, None))),
           [rand(2, 3, 4, dtype=_I32), rand(3, 3, dtype=_I32, seed=1)], id="SetSubtensor-int"),
    OpCase(S.IndexingMultiAxisVec(items=(_vec(1),)), [_X, _idx(2, 0, -1, 0)]),
    OpCase(S.IndexingMultiAxisVec(items=(_vec(0), _vec(2))), [_X, _idx([1], [0]), _idx(3, 1)],
           id="IMAV-adjacent-broadcast"),
    OpCase(S.IndexingMultiAxisVec(items=(_vec(0), (1, None, None, -1, None), _vec(2))),
           [_X, _idx(1, 0), _idx(0, 3)], id="IMAV-split-with-slice"),
    OpCase(S.IndexingMultiAxisVec(items=(_vec(0), _vec(2))), [_X, _idx(1), _idx(2, 3)],
           id="IMAV-0d-index"),
    OpCase(S.IndexingMultiAxisVec(items=(_vec(1),)), [_X, np.zeros((0,), np.int32)],
           id="IMAV-empty-index"),
    OpCase(S.IndexingSetMultiAxisVec(items=(_vec(1),)), [_X, rand(2, 2, 4, seed=3), _idx(2, 0)]),
    OpCase(S.IndexingSetMultiAxisVec(items=(_vec(0), (1, 2, None, -1, None), _vec(2))),
           [_X, rand(2, 3, seed=4), _idx(1, 0), _idx(0, -1)], id="ISMAV-split-neg-step"),
    OpCase(S.IndexingIncrMultiAxisVec(items=(_vec(1),)),
           [_X, rand(2, 4, 4, seed=5), _idx(2, 0, -1, 0)], id="IIMAV-repeated"),
    OpCase(S.IndexingIncrMultiAxisVec(items=(_vec(0), (1, None, None, -1, None), _vec(2))),
           [_X, rand(3, 3, seed=6), _idx(1, 1, -1), _idx(3, 3, 0)], id="IIMAV-split-neg-step"),
    OpCase(S.IndexingIncrMultiAxisVec(items=(_vec(0), _vec(2))),
           [_X, rand(2, 3, 3, seed=7), _idx([1], [1]), _idx(3, -1, 3)],
           id="IIMAV-adjacent-broadcast-repeated"),
]
CASES += [
    OpCase(S.Diag(k=1), [rand(4, 6)], id="Diag-2d-above"),
    OpCase(S.Diag(k=-2), [rand(5, 3)], id="Diag-2d-below"),
    OpCase(S.Diag(), [rand(4, dtype=_I32, low=-9, high=9)], id="Diag-1d-int32"),
    OpCase(S.Diag(k=-1), [rand(3)], id="Diag-1d-below"),
    OpCase(S.Diag(k=7), [rand(3, 4)], id="Diag-2d-empty"),
]

_MASKED = rand(3, 4, 5)
_INTS = rand(3, 4, dtype="int32", seed=5)
CASES += [
    OpCase(S.CondTake(size=int((_MASKED > 0).sum())), [_MASKED, _MASKED > 0]),
    OpCase(S.CondTake(mode="GT", val=0.5, size=int((_MASKED > 0.5).sum())),
           [_MASKED, _MASKED], id="CondTake-GT-float-mask"),
    OpCase(S.CondTake(mode="EQ", val=2.0, size=int((rand(6, dtype="int32") == 2).sum())),
           [rand(6), rand(6, dtype="int32")], id="CondTake-EQ-int-mask"),
    OpCase(S.CondTake(size=0), [rand(0, 3), rand(0, 3) > 0], id="CondTake-empty"),
    OpCase(S.CondTake(mode="NEQ", val=0.0, size=int((np.round(_MASKED) != 0).sum())),
           [_MASKED, np.round(_MASKED)], id="CondTake-NEQ-float-mask"),
    OpCase(S.CondTake(mode="LEQ", val=-1.5, size=int((_INTS <= -1).sum())),
           [rand(*_INTS.shape), _INTS], id="CondTake-LEQ-int-mask-fractional-val"),
    OpCase(S.CondTake(mode="EQ", val=0.0, size=int((_MASKED <= 0).sum())),
           [_MASKED, _MASKED > 0], id="CondTake-EQ-bool-mask-false"),
]
