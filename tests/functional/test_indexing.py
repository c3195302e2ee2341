"""Tensor indexing (mge.functional.indexing) against numpy on every backend: basic and
advanced ``__getitem__``/``__setitem__``, the ops they lower to, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mge
from mge.functional.indexing import getitem, setitem

pytestmark = pytest.mark.usefixtures("each_backend")

X = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
_ = slice(None)

INDICES = {
    "int": (1,),
    "neg-int": (-1, -2),
    "slice": (_, slice(1, 3)),
    "neg-step": (slice(None, None, -1), _, slice(-1, 0, -2)),
    "ellipsis": (Ellipsis, 2),
    "none": (None, 1, Ellipsis, None),
    "empty-slice": (slice(5, 9),),
    "list": ([1, 0, 1],),
    "neg-list": (_, [-1, 0]),
    "adjacent": (_, [0, 2], [1, 3]),
    "split": ([0, 1], _, [1, 2]),
    "broadcast": ([[0], [1]], _, [1, 2, 3]),
    "int-and-list": (1, _, [1, 2]),
    "list-and-neg-slice": ([1, 0], slice(None, None, -1), [0, 1]),
    "none-between": (_, None, [0, 2], [1, 2]),
    "bool-full": "mask",
    "bool-partial": (_, "mask2"),
    "true": (True,),
    "false": (False, 0),
    "empty-list": (_, []),
    "tensor": "tensor",
}


def _resolve(index: object) -> tuple[object, object]:
    """(index for mge, index for numpy)."""
    if index == "mask":
        return mge.tensor(X > 50), X > 50
    if index == "tensor":
        return mge.tensor([1, 0]), np.array([1, 0])
    if isinstance(index, tuple) and "mask2" in index:
        mask = X[0, :, :, 0] > 30
        return (_, mge.tensor(mask)), (_, mask)
    return index, index


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem_matches_numpy(name: str) -> None:
    ours, theirs = _resolve(INDICES[name])
    got = mge.tensor(X)[ours]
    want = X[theirs]
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("name", list(INDICES))
def test_setitem_matches_numpy(name: str) -> None:
    ours, theirs = _resolve(INDICES[name])
    want = X.copy()
    value = np.arange(want[theirs].size, dtype=np.float32).reshape(want[theirs].shape) + 1000
    want[theirs] = value
    t = mge.tensor(X)
    t[ours] = value
    np.testing.assert_array_equal(t.numpy(), want)
    scalar = X.copy()
    scalar[theirs] = -1
    t = mge.tensor(X)
    t[ours] = -1
    np.testing.assert_array_equal(t.numpy(), scalar)


def test_setitem_broadcasts_and_casts_values() -> None:
    t = mge.tensor(np.zeros((3, 4), np.int32))
    t[1:] = mge.tensor([1.7, 2.2, 3.9, 4.0])
    want = np.zeros((3, 4), np.int32)
    want[1:] = [1, 2, 3, 4]
    np.testing.assert_array_equal(t.numpy(), want)
    assert t.dtype == np.int32
    t[0] = np.ones((1, 4))  # leading size-1 dims of the value are dropped, like numpy
    np.testing.assert_array_equal(t.numpy()[0], np.ones(4))


def test_setitem_leaves_other_tensors_alone() -> None:
    a = mge.tensor([1, 2, 3])
    b = a[:]
    b[0] = 7
    np.testing.assert_array_equal(a.numpy(), [1, 2, 3])
    np.testing.assert_array_equal(b.numpy(), [7, 2, 3])


def test_lowering(recorded_ops: list) -> None:
    t = mge.tensor(X)
    t[1, ::2]
    assert [op.type_name for op in recorded_ops] == ["Subtensor"]
    assert recorded_ops[0].items == ((1, None, None, 2, None), (0, None, None, None, 1))
    recorded_ops.clear()
    t[None, :, [0, 2]]
    assert [op.type_name for op in recorded_ops] == ["AxisAddRemove", "IndexingMultiAxisVec"]
    recorded_ops.clear()
    t[0, [1]] = 5.0
    assert [op.type_name for op in recorded_ops][-1] == "IndexingSetMultiAxisVec"


@pytest.mark.parametrize("index, error, match", [
    ((2,), IndexError, r"index 2 is out of bounds for axis 0 with size 2 \(tensor shape "
                       r"\(2, 3, 4, 5\)\)"),
    ((0, -4), IndexError, "index -4 is out of bounds for axis 1 with size 3"),
    ((_, [0, 3]), IndexError, "index 3 is out of bounds for axis 1 with size 3"),
    ((0, 0, 0, 0, 0), IndexError, r"too many indices for a tensor of shape \(2, 3, 4, 5\)"),
    ((Ellipsis, 0, Ellipsis), IndexError, "single Ellipsis"),
    ((1.5,), TypeError, "only integers, slices"),
    (("a",), TypeError, "only integers, slices"),
    (([0.5],), TypeError, "only integers, slices"),
    ((slice(0, 2, 0),), ValueError, "slice step cannot be zero"),
    ((slice(0.5, 2),), TypeError, "slice bound must be an int"),
    ((np.ones((3, 3), bool),), IndexError, r"bool index of shape \(3, 3\) does not match"),
])
def test_getitem_errors(index: tuple, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        mge.tensor(X)[index]


def test_setitem_shape_error() -> None:
    t = mge.tensor(X)
    with pytest.raises(ValueError, match=r"setitem: cannot assign a value of shape \(3,\) to "
                                         r"the indexed part of shape \(3, 4, 5\)"):
        t[0] = np.ones(3, np.float32)
    np.testing.assert_array_equal(t.numpy(), X)  # unchanged after the error


def test_functions_return_new_tensors() -> None:
    t = mge.tensor([[1, 2], [3, 4]])
    np.testing.assert_array_equal(getitem(t, (-1, None)).numpy(), [[3, 4]])
    out = setitem(t, [0, 1], 0)
    np.testing.assert_array_equal(out.numpy(), [[0, 0], [0, 0]])
    np.testing.assert_array_equal(t.numpy(), [[1, 2], [3, 4]])


def _basic_index(shape: tuple[int, ...]) -> st.SearchStrategy:
    def one_axis(n: int) -> st.SearchStrategy:
        bound = st.none() | st.integers(-n - 2, n + 2)
        step = st.none() | st.integers(-3, 3).filter(bool)
        sl = st.builds(slice, bound, bound, step)
        return sl | st.integers(-n, n - 1) if n else sl

    return st.tuples(*(one_axis(n) for n in shape))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
def test_basic_indexing_fuzz(data: st.DataObject, shape: tuple[int, ...]) -> None:
    a = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    index = data.draw(_basic_index(shape))
    np.testing.assert_array_equal(mge.tensor(a)[index].numpy(), a[index])
    want = a.copy()
    want[index] = -7
    t = mge.tensor(a)
    t[index] = -7
    np.testing.assert_array_equal(t.numpy(), want)


def test_a_bool_mask_over_several_dims_merges_them_first() -> None:
    # as MegEngine: the dims a mask covers become one before None adds axes, so a 6-d
    # tensor takes two new axes and a 3-d mask (MegEngine's test_advance_indexing_with_bool)
    a = np.arange(576, dtype=np.int32).reshape(2, 3, 4, 3, 4, 2)
    mask = np.random.default_rng(0).random((4, 3, 4)) > 0.5
    got = mge.tensor(a)[None, ..., mge.tensor(mask), None, 0:2]
    np.testing.assert_array_equal(got.numpy(), a[None, ..., mask, None, 0:2])
    mask = np.random.default_rng(1).random((3, 4, 3)) > 0.5
    t = mge.tensor(a)
    t[:, mask, None, 0:2, [True, False]] = -1
    expected = a.copy()
    expected[:, mask, None, 0:2, [True, False]] = -1
    assert t.shape == a.shape
    np.testing.assert_array_equal(t.numpy(), expected)
