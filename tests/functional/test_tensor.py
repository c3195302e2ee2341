"""F.tensor: shape manipulation, joining/splitting, selection and creation, against numpy
on every backend, plus the ops they build and their argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F

pytestmark = pytest.mark.usefixtures("each_backend")

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def _t(a: object) -> mge.Tensor:
    return mge.tensor(a)


def _eq(got: mge.Tensor, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (got, want)
    np.testing.assert_array_equal(got.numpy(), want)


# ----------------------------------------------------------------------------- shape
@pytest.mark.parametrize("shape", [(4, 6), (-1,), (2, -1, 2), (24, 1), (1, 2, 3, 4, 1)])
def test_reshape(shape: tuple) -> None:
    _eq(F.reshape(_t(X), shape), X.reshape(shape))
    _eq(_t(X).reshape(*shape), X.reshape(shape))


def test_reshape_zero_size_and_scalar() -> None:
    _eq(F.reshape(_t(np.zeros((0, 4), np.int32)), (2, 0, 2)), np.zeros((2, 0, 2), np.int32))
    _eq(F.reshape(_t([[5.0]]), ()), np.array(5.0, np.float32))


@pytest.mark.parametrize("shape, match", [
    ((5, 5), r"reshape: cannot reshape .*\(2, 3, 4\).* to \(5, 5\)"),
    ((5, -1), r"\(2, 3, 4\).*\(5, -1\)"),
    ((-1, -1), "at most one -1"),
    ((2, -2, 6), "invalid target shape"),
])
def test_reshape_errors(shape: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        F.reshape(_t(X), shape)


def test_reshape_rejects_bad_types() -> None:
    with pytest.raises(TypeError, match="reshape: target_shape"):
        F.reshape(_t(X), (2.5, 4))
    with pytest.raises(TypeError, match="reshape: inp must be a Tensor"):
        F.reshape("abc", (3,))


def test_reshape_refuses_float_tensor_entries_like_megengine() -> None:
    # traced shapes are tensors and ``(x.shape[2] // p) ** 2`` is a float32 tensor (MAE's
    # patchify): MegEngine 1.13 refuses it in reshape (an assertion), so does mge
    with pytest.raises(TypeError, match="reshape: target_shape"):
        F.reshape(_t(X), (_t(2), _t(4.0), 3))
    _eq(F.reshape(_t(X), (_t(2), _t(4), 3)), X.reshape(2, 4, 3))


def test_transpose_and_new_axes() -> None:
    _eq(F.transpose(_t(X), (2, 0, 1)), X.transpose(2, 0, 1))
    _eq(F.transpose(_t(X), (1, "x", 2, 0)), X.transpose(1, 2, 0)[:, None])
    _eq(F.transpose(_t(X[:1]), (2, 1)), X[0].T)  # a size-1 axis may be dropped
    _eq(F.swapaxes(_t(X), 0, -1), X.swapaxes(0, -1))


@pytest.mark.parametrize("pattern", [(0, 1), (0, 0, 1), (0, 1, 3)])
def test_transpose_errors(pattern: tuple) -> None:
    with pytest.raises(ValueError, match=r"transpose: .*\(2, 3, 4\)"):
        F.transpose(_t(X), pattern)


@pytest.mark.parametrize("start, end", [(0, -1), (1, -1), (1, 1), (0, 1), (-2, -1), (2, 2)])
def test_flatten(start: int, end: int) -> None:
    s, e = start % 3, end % 3
    want = X.reshape(X.shape[:s] + (-1,) + X.shape[e + 1:])
    _eq(F.flatten(_t(X), start, end), want)


def test_flatten_leaves_batch_dim_free(recorded_ops: list) -> None:
    F.flatten(_t(np.zeros((2, 3, 4, 5), np.float32)), 1)
    assert recorded_ops[-1].type_name == "Reshape" and recorded_ops[-1].shape == (-1, 60)


def test_flatten_zero_size_and_errors() -> None:
    _eq(F.flatten(_t(np.zeros((0, 3, 2))), 1), np.zeros((0, 6), np.float32))
    with pytest.raises(ValueError, match="flatten: start_axis 2 is after end_axis 1"):
        F.flatten(_t(X), 2, 1)
    with pytest.raises(ValueError, match=r"flatten: axis 3 is out of range for shape \(2, 3, 4\)"):
        F.flatten(_t(X), 3)


def test_broadcast_to() -> None:
    _eq(F.broadcast_to(_t(X[:, :1]), (2, 3, 4)), np.broadcast_to(X[:, :1], (2, 3, 4)))
    _eq(F.broadcast_to(_t([1, 2]), (3, None)), np.broadcast_to(np.int32([1, 2]), (3, 2)))
    _eq(F.broadcast_to(_t(1.5), (2, 0)), np.zeros((2, 0), np.float32))
    with pytest.raises(RuntimeError, match=r"broadcast_to: cannot broadcast shape \(2, 3, 4\) to"):
        F.broadcast_to(_t(X), (3, 3, 4))
    with pytest.raises(ValueError, match="negative size"):
        F.broadcast_to(_t(X), (2, -1, 4))


@pytest.mark.parametrize("axis", [0, -1, 2, (0, 3), (-1, 1), [4, 0]])
def test_expand_dims(axis: object) -> None:
    _eq(F.expand_dims(_t(X), axis), np.expand_dims(X, axis))


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
def test_squeeze(axis: object) -> None:
    a = np.zeros((1, 3, 1), np.float32)
    _eq(F.squeeze(_t(a), axis), np.squeeze(a, axis))


def test_expand_squeeze_errors() -> None:
    with pytest.raises(ValueError, match=r"squeeze: axis \[1\] of shape \(2, 3, 4\)"):
        F.squeeze(_t(X), 1)
    with pytest.raises(ValueError, match="expand_dims: axis 5 is out of range"):
        F.expand_dims(_t(X), 5)
    # as MegEngine 1.13: a repeated axis adds one more axis there, each added in turn
    assert F.expand_dims(_t(X), (1, 1)).shape == (2, 1, 1, 3, 4)
    assert F.expand_dims(mge.tensor([1.0, 2.0]), [0, 2, 2]).shape == (1, 2, 1, 1)
    with pytest.raises(ValueError, match=r"expand_dims: axis \[2, 2\] of a 1-d tensor adds"):
        F.expand_dims(mge.tensor([1.0, 2.0]), [2, 2])


# ----------------------------------------------------------------------------- join / split
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_and_stack(axis: int) -> None:
    parts = [X, X + 100]
    _eq(F.concat([_t(p) for p in parts], axis), np.concatenate(parts, axis))
    _eq(F.stack([_t(p) for p in parts], axis), np.stack(parts, axis))


def test_concat_promotes_and_handles_empty() -> None:
    got = F.concat([_t([[1, 2]]), _t([[1.5, 2.5]]), _t(np.zeros((0, 2), np.int32))])
    _eq(got, np.array([[1, 2], [1.5, 2.5]], np.float32))
    _eq(F.concat([_t([1, 2])]), np.int32([1, 2]))


def test_concat_stack_errors() -> None:
    with pytest.raises(ValueError, match=r"concat: shapes \[\(2, 3\), \(2, 2\)\] differ"):
        F.concat([_t(np.zeros((2, 3))), _t(np.zeros((2, 2)))])
    with pytest.raises(ValueError, match="concat: tensors differ in ndim"):
        F.concat([_t(np.zeros((2, 3))), _t(np.zeros(3))])
    with pytest.raises(ValueError, match="concat: needs at least one tensor"):
        F.concat([])
    with pytest.raises(TypeError, match="concat: expects a sequence"):
        F.concat(_t(X))
    with pytest.raises(ValueError, match=r"stack: tensors must share one shape"):
        F.stack([_t(np.zeros(2)), _t(np.zeros(3))])


@pytest.mark.parametrize("spec, axis",
                         [(3, 1), (2, -1), ([1, 3], 2), ([0, 2, 2], 1), (1, 1), (4, 2)])
def test_split(spec: object, axis: int) -> None:
    got = F.split(_t(X), spec, axis)
    want = np.array_split(X, spec, axis) if isinstance(spec, int) else np.split(X, spec, axis)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        _eq(g, w)


def test_split_errors() -> None:
    with pytest.raises(ValueError, match=r"split: cannot split axis 0 of shape \(2, 3, 4\) into 3"):
        F.split(_t(X), 3)
    with pytest.raises(ValueError, match=r"^Invalid nsplits_or_secions: \[3, 1\]$"):  # MegEngine
        F.split(_t(X), [3, 1], axis=2)


def test_repeat_tile_roll() -> None:
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    _eq(F.repeat(_t(a), 2, 1), np.repeat(a, 2, 1))
    _eq(F.repeat(_t(a), 3), np.repeat(a, 3))
    _eq(F.repeat(_t(a), 0, 0), np.repeat(a, 0, 0))
    for reps in [(2, 1, 2), (3,), (1, 2)]:
        _eq(F.tile(_t(a), reps), np.tile(a, reps))
    for shift, axis in [(1, 1), (-1, None), ((1, -2), (0, 1)), (5, 0)]:
        _eq(F.roll(_t(a), shift, axis), np.roll(a, shift, axis))
    with pytest.raises(ValueError, match="repeat: repeats"):
        F.repeat(_t(a), -1)
    with pytest.raises(ValueError, match="roll: shift"):
        F.roll(_t(a), (1, 2), 0)


def test_copy_is_independent() -> None:
    a = _t([1, 2])
    b = F.copy(a)
    b[0] = 9
    _eq(a, np.int32([1, 2]))
    _eq(b, np.int32([9, 2]))


# ----------------------------------------------------------------------------- selection
def test_where_matches_numpy_and_never_leaks() -> None:
    m = X % 3 == 0
    x = np.where(X > 10, np.inf, X).astype(np.float32)
    y = np.full_like(X, np.nan)
    y[m] = 0
    _eq(F.where(_t(m), _t(x), _t(y)), np.where(m, x, y))


def test_where_broadcasts_and_promotes() -> None:
    m = np.array([True, False, True])
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    _eq(F.where(_t(m), _t(a), _t(0)), np.where(m, a, 0).astype(np.int32))
    _eq(F.where(_t(m), _t(a), _t([1.5, 2.5, 3.5])),
        np.where(m, a, [1.5, 2.5, 3.5]).astype(np.float32))
    _eq(F.where(_t(m), 1.0, _t([0.0])), np.where(m, 1.0, 0.0).astype(np.float32))
    _eq(F.where(_t(m), _t([False, True, True]), _t([True, False, True])),
        np.array([False, False, True]))


def test_where_builds_megengine_ops(recorded_ops: list) -> None:
    F.where(_t([True, False]), _t([1.0, 2.0]), _t([3.0, 4.0]))
    names = [(op.type_name, getattr(op, "mode", None)) for op in recorded_ops]
    assert names == [("TypeCvt", None), ("Elemwise", "SWITCH_GT0"), ("Elemwise", "SUB"),
                     ("Elemwise", "SWITCH_GT0"), ("Elemwise", "ADD")]


def test_where_errors() -> None:
    with pytest.raises(ValueError, match="where: mask must be bool, got int32"):
        F.where(_t([1, 0]), _t([1, 2]), _t([3, 4]))
    with pytest.raises(ValueError, match=r"where: shapes \[\(2,\), \(3,\), \(2,\)\]"):
        F.where(_t([True, False]), _t([1, 2, 3]), _t([3, 4]))


def test_gather_scatter() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    for axis in (0, 1, -1):
        shape = list(a.shape)
        shape[axis] = 2
        idx = rng.integers(0, a.shape[axis], size=shape).astype(np.int32)
        _eq(F.gather(_t(a), axis, _t(idx)), np.take_along_axis(a, idx, axis))
        perm = np.argsort(rng.random(a.shape), axis=axis).astype(np.int32)  # no duplicates
        src = rng.standard_normal(a.shape).astype(np.float32)
        want = a.copy()
        np.put_along_axis(want, perm, src, axis)
        target = _t(a)
        assert F.scatter(target, axis, _t(perm), _t(src)) is target
        _eq(target, want)
    with pytest.raises(IndexError, match="gather: index values must be in"):
        F.gather(_t(a), 0, _t(np.full((1, 4, 5), 3, np.int32)))
    with pytest.raises(ValueError, match="gather: index must be an integer tensor"):
        F.gather(_t(a), 0, _t(np.zeros((1, 4), np.int32)))


# ----------------------------------------------------------------------------- creation
@pytest.mark.parametrize("fn, args, kwargs, want", [
    (F.zeros, ((2, 3),), {}, np.zeros((2, 3), np.float32)),
    (F.zeros, (2,), {"dtype": "int32"}, np.zeros(2, np.int32)),
    (F.ones, ((0, 2),), {}, np.ones((0, 2), np.float32)),
    (F.ones, (3,), {"dtype": np.float16}, np.ones(3, np.float16)),
    (F.full, ((2,), 6), {}, np.full(2, 6, np.int32)),
    (F.full, ((2,), 6.5), {}, np.full(2, 6.5, np.float32)),
    (F.full, ((2, 1), True), {}, np.full((2, 1), True)),
    (F.full, (3, 7), {"dtype": "float16"}, np.full(3, 7, np.float16)),
    (F.arange, (5,), {}, np.arange(5, dtype=np.float32)),
    (F.arange, (1, 10, 3), {"dtype": "int32"}, np.int32([1, 4, 7])),
    (F.arange, (5, 0, -2), {}, np.float32([5, 3, 1])),
    (F.arange, (3, 1), {}, np.zeros(0, np.float32)),
    (F.linspace, (0, 1, 5), {}, np.linspace(0, 1, 5, dtype=np.float32)),
    (F.linspace, (0, 10, 4), {"dtype": "int32"}, np.int32([0, 3, 6, 10])),
    (F.eye, (3,), {}, np.eye(3, dtype=np.float32)),
    (F.eye, (2, 4), {"dtype": "int32"}, np.eye(2, 4, dtype=np.int32)),
])
def test_creation(fn: object, args: tuple, kwargs: dict, want: np.ndarray) -> None:
    _eq(fn(*args, **kwargs), want)


def test_arange_fractional_step_matches_megengine() -> None:
    np.testing.assert_allclose(F.arange(0, 1, 0.3).numpy(), [0, 0.3, 0.6, 0.9], rtol=1e-6)


def test_like_functions_keep_shape_and_dtype() -> None:
    a = _t(np.arange(6, dtype=np.int32).reshape(2, 3))
    _eq(F.full_like(a, 2.5), np.full((2, 3), 2, np.int32))
    _eq(F.zeros_like(a), np.zeros((2, 3), np.int32))
    _eq(F.ones_like(_t(X)), np.ones_like(X))


def test_creation_errors() -> None:
    with pytest.raises(ValueError, match=r"zeros: negative dimension in shape \(2, -1\)"):
        F.zeros((2, -1))
    with pytest.raises(TypeError, match="full: value must be a number"):
        F.full((2,), "a")
    with pytest.raises(TypeError, match="ones: unsupported dtype"):
        F.ones(2, dtype="complex64")
    with pytest.raises(ValueError, match="arange: step must not be zero"):
        F.arange(0, 3, 0)
    with pytest.raises(ValueError, match="linspace: num must be non-negative"):
        F.linspace(0, 1, -1)


def test_concat_across_devices_needs_a_device() -> None:
    a = mge.tensor(np.ones((2, 2), np.float32), device="cpu0")
    b = mge.tensor(np.ones((2, 2), np.float32), device="cpu1")
    assert F.concat([a, b], device="cpu1").device == "cpu1"
    assert F.stack([a, b], device="cpu1").device == "cpu1"
    assert F.concat([a, a]).device == "cpu0"
    with pytest.raises(ValueError, match="concat: ambiguous device"):
        F.concat([a, b])
