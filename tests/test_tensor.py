"""The Tensor class: creation dtypes, conversion, shape methods, operators with MegEngine's
broadcasting and promotion, indexing, in-place operators and pickling, on every backend.

Expected dtypes and values are the ones real MegEngine 1.13 gives for the same code.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import mge

#: every test runs once per available backend (``tests/conftest.py``)
pytestmark = pytest.mark.usefixtures("each_backend")


def _check(t: mge.Tensor, dtype: str, values: object) -> None:
    want = np.asarray(values, dtype=dtype)
    assert t.dtype == np.dtype(dtype) and t.shape == want.shape, (t, want)
    np.testing.assert_array_equal(t.numpy(), want)


T = mge.tensor


@pytest.mark.parametrize("data, dtype", [
    ([1, 2], "int32"),
    (1.5, "float32"),
    (np.array([1.0, 2.0]), "float32"),
    (np.array([1, 2]), "int32"),
    (True, "bool"),
    ([1, 2.5], "float32"),
    (np.ones(2, np.float16), "float16"),
    (np.ones(2, np.uint8), "uint8"),
])
def test_creation_dtype_defaults(data: object, dtype: str) -> None:
    _check(T(data), dtype, data)


def test_creation_with_dtype_and_from_tensor() -> None:
    _check(T([1.7, -1.2], dtype="int32"), "int32", [1, -1])
    src = T([1, 2])
    copy = mge.Tensor(src)
    _check(copy, "int32", [1, 2])
    assert copy.device == src.device


def test_conversions() -> None:
    t = T([[1, 2], [3, 4]])
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4 and len(t) == 2
    assert t.item(1, 0) == 3 and T(3.5).item() == 3.5 and isinstance(T(3).item(), int)
    assert t.tolist() == [[1, 2], [3, 4]]
    arr = t.numpy()
    arr[0, 0] = 9  # a copy
    assert t.numpy()[0, 0] == 1
    assert np.asarray(t).dtype == np.int32
    assert [row.tolist() for row in t] == [[1, 2], [3, 4]]
    assert float(T(2.5)) == 2.5 and int(T(7)) == 7 and bool(T(1))
    with pytest.raises(ValueError, match="one element"):
        t.item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)


def test_shape_methods() -> None:
    x = T(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert x.reshape(-1, 4).shape == (6, 4)
    assert x.reshape((4, 6)).shape == (4, 6)
    assert x.transpose(2, 0, 1).shape == (4, 2, 3)
    assert x.transpose((1, 0, 2)).shape == (3, 2, 4)
    assert x.transpose().shape == x.T.shape == (4, 3, 2)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.broadcast(3, 2, 3, 4).shape == (3, 2, 3, 4)
    _check(x.astype("int32")[0, 0], "int32", [0, 1, 2, 3])
    _check(x.sum(axis=1)[0], "float32", [12, 15, 18, 21])
    assert x.mean().item() == pytest.approx(11.5)
    assert x.max(axis=-1, keepdims=True).shape == (2, 3, 1)


def test_to_device() -> None:
    t = T([1.0, 2.0]).to("cpu0")
    assert t.device == "cpu0"
    _check(t, "float32", [1.0, 2.0])
    with pytest.raises(ValueError, match="invalid device name"):
        t.to("tpu3")


@pytest.mark.parametrize("expr, dtype, values", [
    (lambda: T([1, 2]) + 1.5, "float32", [2.5, 3.5]),
    (lambda: T([1, 2]) / 2, "float32", [0.5, 1.0]),
    (lambda: T([7, -7]) // 2, "int32", [3, -4]),
    (lambda: T([1, 2]) ** 2, "float32", [1.0, 4.0]),
    (lambda: T(np.ones(2, np.float16)) + 2.0, "float16", [3.0, 3.0]),
    (lambda: T(np.ones(2, np.float16)) + T([1.0, 2.0]), "float32", [2.0, 3.0]),
    (lambda: T(np.ones(2, np.int8)) + T([1, 2]), "int32", [2, 3]),
    (lambda: T(np.ones(2, np.uint8)) + 1, "uint8", [2, 2]),
    (lambda: T([[1.0], [2.0]]) + T([1.0, 2.0, 3.0]), "float32", [[2, 3, 4], [3, 4, 5]]),
    (lambda: -T([1, 2]), "int32", [-1, -2]),
    (lambda: T([1, 2]) < 1.5, "bool", [True, False]),
    (lambda: 1 - T([1, 2]), "int32", [0, -1]),
    (lambda: 1 / T([1, 2]), "float32", [1.0, 0.5]),
    (lambda: T([True, False]) & T([True, True]), "bool", [True, False]),
    (lambda: abs(T([-1.5, 2.0])), "float32", [1.5, 2.0]),
])
def test_operators_promote_like_megengine(expr: object, dtype: str, values: object) -> None:
    _check(expr(), dtype, values)


def test_inplace_operators_update_the_tensor() -> None:
    x = T([1, 2])
    alias = x
    x += 1
    assert x is alias
    _check(alias, "int32", [2, 3])
    x *= T([2, 3])
    _check(x, "int32", [4, 9])


def test_indexing_and_assignment() -> None:
    x = T(np.arange(12, dtype=np.int32).reshape(3, 4))
    _check(x[1], "int32", [4, 5, 6, 7])
    _check(x[:, -1], "int32", [3, 7, 11])
    _check(x[[0, 2], 1], "int32", [1, 9])
    x[0] = 0
    x[1:, ::2] = T([[-1, -2]])
    _check(x, "int32", [[0, 0, 0, 0], [-1, 5, -2, 7], [-1, 9, -2, 11]])
    with pytest.raises(IndexError, match=r"out of bounds for axis 0 with size 3"):
        x[3]


@pytest.mark.parametrize("cls", [mge.Tensor, mge.Parameter])
def test_pickle_round_trip(cls: type) -> None:
    t = cls(np.arange(6, dtype=np.float16).reshape(2, 3), device="cpu0")
    t.name = "weight"
    back = pickle.loads(pickle.dumps(t))
    assert type(back) is cls and back.name == "weight" and back.device == "cpu0"
    _check(back, "float16", t.numpy())


def test_to_is_an_op_in_traces_and_gradients(tmp_path) -> None:
    """``x.to(device)`` stays connected to ``x``: a dumped trace computes it from the input
    (it was a constant of the traced value before) and gradients flow through it."""
    from mge.autodiff import GradManager
    from mge.jit import trace
    from mge.lite import LiteNetwork

    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return x.to("cpu0") * 2

    np.testing.assert_array_equal(f(mge.tensor([1.0, 2.0])).numpy(), [2.0, 4.0])
    f.dump(str(tmp_path / "to.mge"), arg_names=["x"])
    net = LiteNetwork()
    net.load(str(tmp_path / "to.mge"))
    net.get_io_tensor("x").set_data_by_copy(np.float32([7.0, 9.0]))
    net.forward()
    net.wait()
    out = net.get_io_tensor(net.get_all_output_name()[0]).to_numpy()
    np.testing.assert_array_equal(out, [14.0, 18.0])

    w = mge.Parameter([1.0, 2.0])
    gm = GradManager().attach(w)
    with gm:
        gm.backward((w.to("cpu1") * 3).sum())
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])


def test_setitem_ellipsis_replaces_the_whole_tensor_like_megengine() -> None:
    """``x[...] = v`` is MegEngine's ``_reset``: ``x`` becomes ``v`` whatever the shapes
    (values as MegEngine 1.13 gives them; the ASR Transformer grows ``Tensor(0.0)`` so)."""
    x = mge.Tensor(0.0)
    x[...] = mge.tensor(np.ones((1, 3, 2), np.float32))
    assert x.shape == (1, 3, 2)
    y = mge.Tensor([1.0, 2.0, 3.0])
    y[...] = 5
    assert y.shape == () and y.item() == 5.0
    z = mge.Tensor([1.0, 2.0, 3.0])
    z[...] = np.array([[1, 2], [3, 4]])  # not a tensor: converted to z's dtype
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z.numpy(), [[1, 2], [3, 4]])
    w = mge.Tensor([1.0, 2.0, 3.0])
    w[...] = mge.tensor([1, 2], dtype="int32")  # a tensor: taken as it is
    assert (w.shape, w.dtype) == ((2,), np.int32)
    p = mge.Parameter([1.0, 2.0, 3.0])
    p[...] = mge.tensor([[7.0, 8.0]])
    assert isinstance(p, mge.Parameter) and p.shape == (1, 2)
