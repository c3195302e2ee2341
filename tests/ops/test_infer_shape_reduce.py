"""``infer`` of the shape, indexing and reduce ops rejects bad params and inputs with an
``OpError`` naming the op and the shapes, before any kernel runs."""

from __future__ import annotations

import numpy as np
import pytest

from mge.core.opdef import OpError, TensorInfo
from mge.ops import reduce as R
from mge.ops import shape as S

F32, I32 = np.dtype("float32"), np.dtype("int32")


def _info(*shape: int, dtype: np.dtype = F32) -> TensorInfo:
    return TensorInfo(shape, dtype)


_VEC = (1, None, None, None, True)

BAD = [
    (S.Reshape(shape=(5, -1)), [_info(2, 3)], r"cannot reshape \(2, 3\) to \(5, -1\)"),
    (S.Reshape(shape=(-1, -1)), [_info(2, 3)], "at most one -1"),
    (S.Reshape(shape=(0, -1)), [_info(0, 3)], "cannot reshape"),
    (S.Reshape(shape=(2, -1), axis=0), [_info(2, 3)], "axis 0 does not fit"),
    (S.Reshape(shape=(2, 3), axis=5), [_info(2, 3)], "axis 5 does not fit"),
    (S.Broadcast(shape=(3, 2)), [_info(2, 1)], r"cannot broadcast \(2, 1\) to \(3, 2\)"),
    (S.Broadcast(shape=(2, -1)), [_info(2, 1)], "invalid shape"),
    (S.Dimshuffle(pattern=(0, 0)), [_info(2, 2)], "bad pattern"),
    (S.Dimshuffle(pattern=(1,)), [_info(2, 2)], r"drops non-1 axes \[0\]"),
    (S.Dimshuffle(pattern=(1, 0), ndim=3), [_info(2, 2)], "expects a 3-d input"),
    (S.AxisAddRemove(desc=(("REMOVE", 0),)), [_info(2, 1)], "cannot remove axis 0 of size 2"),
    (S.AxisAddRemove(desc=(("ADD", 0),)), [_info(2)], "unknown method 'ADD'"),
    (S.AxisAddRemove(desc=(("ADD_1", 3),)), [_info(2)], "axis 3 out of range"),
    (S.Concat(axis=1), [_info(2, 3), _info(3, 3)], "shapes differ outside axis 1"),
    (S.Concat(axis=0), [_info(2), _info(2, dtype=I32)], "share one dtype"),
    (S.Concat(axis=2), [_info(2, 3)], "axis 2 out of range"),
    (S.Padding(padding_mode="WRAP"), [_info(2)], "unknown padding_mode 'WRAP'"),
    (S.Padding(front_offset_dim0=3, padding_mode="REFLECT"), [_info(3)], "REFLECT offsets"),
    (S.Padding(front_offset_dim1=1), [_info(3)], "dims the input does not have"),
    (S.Fill(shape=(2, -1)), [], "invalid shape"),
    (S.Fill(dtype="complex64"), [], "unsupported dtype"),
    (S.Linspace(num=-1), [], "num must be a non-negative int"),
    (S.Eye(shape=(2, 2, 2)), [], "shape must have 1 or 2 dims"),
    (S.Subtensor(items=((0, None, None, None, 3),)), [_info(3)], "index 3 out of range"),
    (S.Subtensor(items=((0, None, None, 0, None),)), [_info(3)], "step cannot be zero"),
    (S.Subtensor(items=((0, 1, None, None, 0),)), [_info(3)], "both a slice and an index"),
    (S.Subtensor(items=((0, None, None, None, 1),) * 2), [_info(3)], "axis 0 indexed twice"),
    (S.Subtensor(items=((2, None, None, None, 0),)), [_info(3)], "axis 2 out of range"),
    (S.IndexingMultiAxisVec(items=(_VEC,)), [_info(2, 3)], "expects 2 inputs, got 1"),
    (S.IndexingMultiAxisVec(items=(_VEC,)), [_info(2, 3), _info(2)], "integer tensors"),
    (S.IndexingMultiAxisVec(items=(_VEC, (0, None, None, None, True))),
     [_info(2, 3), _info(2, dtype=I32), _info(3, dtype=I32)], "do not broadcast"),
    (S.IndexingMultiAxisVec(items=(_VEC, (0, None, None, None, 0))),
     [_info(2, 3), _info(2, dtype=I32)], "idx must be True"),
    (S.IndexingMultiAxisVec(items=((1, None, None, None, None),)), [_info(2, 3)],
     "needs at least one index item"),
    (S.SetSubtensor(items=((0, None, None, None, 0),)), [_info(2, 3), _info(2)],
     r"value must be float32\[3\]"),
    (R.Reduce(mode="MEAN_SQR"), [_info(2)], "unknown mode 'MEAN_SQR'"),
    (R.Reduce(mode="MAX", axis=0), [_info(0, 2)], "cannot reduce the empty axis 0"),
    (R.Reduce(mode="SUM", axis=2), [_info(2, 2)], "axis 2 out of range"),
    (R.Reduce(data_type="FLOAT_IO16xC32"), [_info(2)], "does not take float32 input"),
    (R.Reduce(), [_info(2, dtype=np.dtype(bool))], "needs a numeric input"),
    (R.Argmax(axis=0), [_info()], "at least a 1-d input"),
    (R.TopK(k=4), [_info(2, 3)], r"0 < \|k\| <= 3"),
    (R.TopK(k=1), [_info(3)], "needs a 2-d input"),
    (R.TopK(mode="ALL"), [_info(2, 3)], "unknown mode 'ALL'"),
    (R.ArgsortForward(order="UP"), [_info(2, 3)], "unknown order 'UP'"),
]


@pytest.mark.parametrize("op, inputs, match", BAD, ids=[str(i) for i in range(len(BAD))])
def test_infer_rejects(op: S.OpDef, inputs: list[TensorInfo], match: str) -> None:
    with pytest.raises(OpError, match=match) as err:
        op.check_inputs(inputs)
    assert str(err.value).startswith(op.type_name + "(")


def test_params_are_frozen_and_hashable() -> None:
    op = S.Subtensor(items=[[0, np.int64(1), None, None, None]])
    assert op.items == ((0, 1, None, None, None),) and hash(op) == hash(S.Subtensor(
        items=((0, 1, None, None, None),)))
    assert S.Reshape(shape=[2, -1]).shape == (2, -1)


def test_infer_results() -> None:
    assert S.Reshape(shape=(2, 1, 12), axis=2).infer([_info(2, 3, 4)])[0].shape == (2, 1, 12)
    pad = S.Padding.from_pad_width([(1, 2), (0, 3)], padding_val=1.0)
    assert pad.infer([_info(2, 2)])[0].shape == (5, 5) and pad.back_offset_dim1 == 3
    got = S.GetVarShape().infer([_info(2, 3)])[0]
    assert got.shape == (2,) and got.value.tolist() == [2, 3]
    assert R.Reduce(mode="SUM").infer([_info(2, 3)])[0].shape == ()
    outs = R.TopK(mode="KTH_ONLY", k=-2).infer([_info(4, 5)])
    assert [o.shape for o in outs] == [(4,)]
    items = (_VEC, (0, None, None, None, True), (2, None, None, -1, None))
    shape = S.IndexingMultiAxisVec(items=items).infer(
        [_info(2, 3, 4), _info(5, dtype=I32), _info(1, dtype=I32)])[0].shape
    assert shape == (5, 4)
    split = S.IndexingMultiAxisVec(items=((0, None, None, None, True), (2, None, None, None, True)))
    index = _info(6, dtype=I32)
    assert split.infer([_info(2, 3, 4), index, index])[0].shape == (6, 3)
