"""F.math: reductions, arg-reductions, sorting and norms against numpy on every backend,
the graphs they build (MegEngine's ``Reduce`` + ``AxisAddRemove``) and their errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mge
import mge.functional as F

pytestmark = pytest.mark.usefixtures("each_backend")

RNG = np.random.default_rng(7)
X = RNG.uniform(0.5, 1.5, size=(2, 3, 4)).astype(np.float32)
XI = RNG.integers(-20, 20, size=(3, 4)).astype(np.int32)

_NP = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}


def _t(a: object) -> mge.Tensor:
    return mge.tensor(a)


def _close(got: mge.Tensor, want: np.ndarray, rtol: float = 1e-5) -> None:
    want = np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want)
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol)


@pytest.mark.parametrize("name", list(_NP))
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (-1, 1), [0, 1, 2]])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(name: str, axis: object, keepdims: bool) -> None:
    ax = tuple(axis) if isinstance(axis, list) else axis
    want = _NP[name](X, axis=ax, keepdims=keepdims).astype(np.float32)
    _close(getattr(F, name)(_t(X), axis=axis, keepdims=keepdims), want)
    _close(getattr(_t(X), name)(axis, keepdims), want)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min"])
def test_integer_reductions_keep_dtype(name: str) -> None:
    want = _NP[name](XI.astype(np.int64), axis=1).astype(np.int32)
    _close(getattr(F, name)(_t(XI), axis=1), want)


def test_reduction_dtypes_follow_megengine() -> None:
    _close(F.mean(_t(XI), 1), XI.mean(1).astype(np.float32))
    _close(F.sum(_t(XI > 0)), np.int32((XI > 0).sum()))
    _close(F.mean(_t(XI > 0)), np.float32((XI > 0).mean()))
    _close(F.mean(_t(np.ones(3, np.float16))), np.float32(1))
    _close(F.sum(_t(np.ones(3, np.float16))), np.float16(3))
    _close(F.sum(_t(np.full(3, 100, np.int8))), np.int8(44))  # wraps like MegEngine


def test_reductions_of_empty_tensors() -> None:
    empty = np.zeros((0, 3), np.float32)
    _close(F.sum(_t(empty), 0), np.zeros(3, np.float32))
    _close(F.prod(_t(empty), 0), np.ones(3, np.float32))
    assert np.isnan(F.mean(_t(empty)).item())
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty axis of shape \(0, 3\)"):
        F.max(_t(empty), 0)
    with pytest.raises(ValueError, match="min: cannot reduce the empty tensor"):
        F.min(_t(empty))


def test_reduce_graph_mirrors_megengine(recorded_ops: list) -> None:
    F.mean(_t(X), axis=(0, 2))
    got = [(op.type_name, op.params()) for op in recorded_ops]
    assert got == [
        ("Reduce", {"mode": "MEAN", "axis": 2, "data_type": "DEFAULT"}),
        ("AxisAddRemove", {"desc": (("REMOVE", 2),)}),
        ("Reduce", {"mode": "MEAN", "axis": 0, "data_type": "DEFAULT"}),
        ("AxisAddRemove", {"desc": (("REMOVE", 0),)}),
    ]
    recorded_ops.clear()
    F.sum(_t(X), axis=-1, keepdims=True)
    assert [(op.type_name, op.axis) for op in recorded_ops] == [("Reduce", -1)]


def test_reduction_errors() -> None:
    with pytest.raises(ValueError, match=r"sum: axis 3 is out of range for shape \(2, 3, 4\)"):
        F.sum(_t(X), 3)
    with pytest.raises(AssertionError, match="mean: repeated axis"):
        F.mean(_t(X), (1, -2))
    with pytest.raises(TypeError, match="prod: axis must be an int"):
        F.prod(_t(X), 1.0)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, -1, 1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_arg_reductions(name: str, axis: object, keepdims: bool) -> None:
    want = getattr(np, name)(X, axis=axis, keepdims=keepdims).astype(np.int32)
    _close(getattr(F, name)(_t(X), axis, keepdims), want)


def test_arg_reductions_ties_and_errors() -> None:
    _close(F.argmax(_t([1, 3, 3, 0])), np.int32(1))
    _close(F.argmin(_t([[2.0, 1.0], [1.0, 1.0]]), axis=1), np.int32([1, 0]))
    with pytest.raises(ValueError, match="argmax: cannot search an empty axis"):
        F.argmax(_t(np.zeros((2, 0))), 1)


ROWS = RNG.standard_normal((3, 6)).astype(np.float32)


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("data", [ROWS, ROWS[1]], ids=["2d", "1d"])
def test_topk(descending: bool, data: np.ndarray) -> None:
    order = np.argsort(-data if descending else data, axis=-1, kind="stable")[..., :3]
    values, index = F.topk(_t(data), 3, descending=descending)
    _close(values, np.take_along_axis(data, order, -1))
    _close(index, order.astype(np.int32))
    kth, kth_index = F.topk(_t(data), 3, descending=descending, kth_only=True)
    _close(kth, np.take_along_axis(data, order, -1)[..., 2])
    _close(kth_index, order[..., 2].astype(np.int32))
    unsorted, _ = F.topk(_t(data), 3, descending=descending, no_sort=True)
    np.testing.assert_allclose(np.sort(unsorted.numpy(), -1),
                               np.sort(np.take_along_axis(data, order, -1), -1))


def test_topk_defaults_to_largest_like_megengine() -> None:
    values, index = F.topk(_t([2.0, 4, 6, 8, 7, 5, 3, 1]), 3)
    _close(values, np.float32([8, 7, 6]))
    _close(index, np.int32([3, 4, 2]))


def test_topk_errors() -> None:
    with pytest.raises(ValueError, match=r"topk: k must be a positive int"):
        F.topk(_t(ROWS), 0)
    values, _ = F.topk(_t(ROWS), 7)  # MegEngine clamps k to the row length
    assert values.shape == (ROWS.shape[0], ROWS.shape[1])
    with pytest.raises(ValueError, match=r"topk: input must be 1-d or 2-d, got shape \(2, 3, 4\)"):
        F.topk(_t(X), 1)


@pytest.mark.parametrize("descending", [False, True])
def test_argsort_and_sort(descending: bool) -> None:
    data = np.float32([[3, 1, 2, 1], [0, 5, 5, -1]])
    order = np.argsort(data, axis=-1, kind="stable").astype(np.int32)
    if descending:  # MegEngine's order: the ascending one reversed (ties last index first)
        order = order[:, ::-1]
    _close(F.argsort(_t(data), descending), order)
    _close(F.argsort(_t(data[0]), descending), order[0])
    values, index = F.sort(_t(data[1]), descending)
    _close(values, data[1][order[1]])
    _close(index, order[1])
    with pytest.raises(ValueError, match="argsort: input must be 1-d or 2-d"):
        F.argsort(_t(X))


@pytest.mark.parametrize("ord", [None, 1, 3, 0, math.inf, -math.inf])
def test_norm(ord: float | None) -> None:
    data = RNG.standard_normal((3, 5)).astype(np.float32)
    data[0, 1] = 0
    want = np.linalg.norm(data, ord=ord, axis=1).astype(np.float32)
    if ord == 0:
        want = want.astype(np.int32)
    _close(F.norm(_t(data), ord, axis=1), want, rtol=1e-5)
    _close(F.norm(_t(data[0]), ord), np.asarray(np.linalg.norm(data[0], ord=ord)).astype(
        want.dtype), rtol=1e-5)
    with pytest.raises(TypeError, match="norm: axis is required"):
        F.norm(_t(data), ord)


def test_normalize_var_std_dot() -> None:
    data = RNG.standard_normal((3, 5)).astype(np.float32)
    want = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-12)
    _close(F.normalize(_t(data), axis=1), want.astype(np.float32))
    _close(F.var(_t(data), axis=1), data.var(axis=1), rtol=1e-5)
    _close(F.std(_t(data)), np.float32(data.std()), rtol=1e-5)
    _close(F.var(_t(data), axis=0, keepdims=True), data.var(axis=0, keepdims=True), rtol=1e-5)
    _close(F.dot(_t(data[0]), _t(data[1])), np.float32(data[0] @ data[1]), rtol=1e-5)
    with pytest.raises(ValueError, match=r"dot: needs two vectors of one length"):
        F.dot(_t(data[0]), _t(data[1, :2]))


def test_matmul_is_reexported() -> None:
    from mge.functional import math as fmath
    from mge.functional import nn

    assert fmath.matmul is nn.matmul and "matmul" in fmath.__all__


def test_descending_sorts_order_ties_as_megengine(each_backend: str) -> None:
    """Equal values come last index first when sorting descending: MegEngine 1.13's order
    (the ascending order reversed), recorded from its CPU kernels."""
    x = _t([[2.0, 2, 2, 1, 1, 3, 3]])
    _, index = F.topk(x, 3, descending=True)
    np.testing.assert_array_equal(index.numpy(), [[6, 5, 2]])
    _, index = F.topk(_t([3.0, 1, 4, 1, 5]), 5, descending=True)
    np.testing.assert_array_equal(index.numpy(), [4, 2, 0, 3, 1])
    _, index = F.sort(x, descending=True)
    np.testing.assert_array_equal(index.numpy(), [[6, 5, 2, 1, 0, 4, 3]])
    np.testing.assert_array_equal(F.argsort(x, descending=True).numpy(), [[6, 5, 2, 1, 0, 4, 3]])
    np.testing.assert_array_equal(F.argsort(x).numpy(), [[3, 4, 0, 1, 2, 5, 6]])


def test_topk_takes_an_int_tensor_k_like_megengine() -> None:
    # MegEngine 1.13: an int32 k of shape () or (1,) works (YOLOX's dynamic k), float
    # and non-positive k are refused
    x = mge.tensor(np.array([3.0, 1.0, 2.0, 5.0], np.float32))
    for k in (mge.tensor(2), mge.tensor([2])):
        values, index = F.topk(x, k)
        np.testing.assert_array_equal(values.numpy(), [5.0, 3.0])
        np.testing.assert_array_equal(index.numpy(), [3, 0])
    assert F.topk(x, mge.tensor(9))[0].shape == (4,)
    with pytest.raises(ValueError, match="topk: a tensor k must hold one integer"):
        F.topk(x, mge.tensor(2.0))
    with pytest.raises(ValueError, match="topk: k must be a positive int"):
        F.topk(x, mge.tensor(0))
