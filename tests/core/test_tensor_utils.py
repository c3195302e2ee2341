"""megengine.core.tensor.utils helpers."""

from __future__ import annotations

import numpy as np
import pytest

import mge
from mge.core.tensor.megbrain_graph import OutputNode
from mge.core.tensor.utils import astensor1d, make_shape_tuple
from mge.utils.network import Network


@pytest.mark.parametrize("shape", [(2, 0, 3), [2, 0, 3], np.array([2, 0, 3]),
                                   mge.tensor([2, 0, 3], dtype="int32")])
def test_make_shape_tuple(shape) -> None:  # noqa: ANN001
    assert make_shape_tuple(shape) == (2, 0, 3)


def test_make_shape_tuple_rejects_non_ints() -> None:
    with pytest.raises(TypeError, match="ints"):
        make_shape_tuple((2, 1.5))


@pytest.mark.parametrize("dtype", [None, "float32"])
def test_astensor1d_literals_and_arrays(dtype) -> None:  # noqa: ANN001
    for x in ([1, 2, 3], np.array([1, 2, 3], dtype="int64")):
        out = astensor1d(x, dtype=dtype)
        assert out.dtype == np.dtype(dtype or "int32")
        np.testing.assert_array_equal(out.numpy(), [1, 2, 3])


def test_astensor1d_returns_a_tensor_as_it_is() -> None:
    x = mge.tensor([1, 2, 3])
    assert astensor1d(x, dtype="float32") is x  # MegEngine ignores dtype/device here
    s = mge.tensor(4)
    assert astensor1d(s) is s and astensor1d([s]) is s


def test_astensor1d_concatenates_mixed_sequences() -> None:
    out = astensor1d([1, mge.tensor(2), 3])
    assert out.dtype == np.int32 and out.numpy().tolist() == [1, 2, 3]
    out = astensor1d([mge.tensor([1, 2]), [3, 4.5]])  # one level of lists is flattened
    assert out.dtype == np.float32 and out.numpy().tolist() == [1, 2, 3, 4.5]
    out = astensor1d((mge.tensor(2), mge.tensor(5)), dtype="float32")
    assert out.dtype == np.float32 and out.numpy().tolist() == [2, 5]


def test_astensor1d_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="ndim != 1 or 0, get : 2"):
        astensor1d(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="ndim"):
        astensor1d(mge.tensor(np.zeros((2, 2))))
    with pytest.raises(TypeError, match="astensor1d"):
        astensor1d(3)
    with pytest.raises(TypeError, match="astensor1d"):
        astensor1d(["a", "b"])


def test_astensor1d_builds_into_a_network_graph() -> None:
    net = Network()
    ref = net.make_const(0)
    out = astensor1d([1, 2, 3], ref, dtype="float32")
    assert type(out) is type(ref) and out.owner.type == "ImmutableTensor"
    assert out.dtype == np.float32
    out = astensor1d([1, net.make_const(2), 3], ref)
    assert type(out) is type(ref) and out.owner.type == "Concat" and out.shape == (3,)
    node = OutputNode(out.var)
    node.graph.compile(node.outputs).execute()
    assert node.get_value().numpy().tolist() == [1, 2, 3]
