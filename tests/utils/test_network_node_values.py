"""Values of Network vars computed from constants (MegEngine's VarNode.numpy / OutputNode)."""

from __future__ import annotations

import numpy as np
import pytest

from mge.core.tensor import megbrain_graph as G
from mge.dtype import get_scale, get_zero_point, qint8, quint8
from mge.utils.network import Network
from mge.utils.network_node import Host2DeviceCopy, VarNode


def test_var_value_from_constants() -> None:
    net = Network()
    a = net.make_const(np.arange(6, dtype=np.float32).reshape(2, 3))
    b = net.make_const(np.ones((3, 2), np.float32))
    c = (a @ b) * 2 + 1
    np.testing.assert_allclose(c.numpy(), (np.arange(6).reshape(2, 3) @ np.ones((3, 2))) * 2 + 1)
    o = G.OutputNode(c.var)
    o.graph.compile(o.outputs).execute()
    np.testing.assert_allclose(o.get_value().numpy(), c.numpy())
    again = VarNode(c.var)  # MegEngine's VarNode(x.var)
    np.testing.assert_allclose((again - 1).numpy(), c.numpy() - 1)


def test_var_depending_on_an_input_has_no_value() -> None:
    x = Host2DeviceCopy((2,), "float32", name="x").outputs[0]
    with pytest.raises(ValueError, match="depends on the graph input 'x'"):
        (x + 1).numpy()
    with pytest.raises(RuntimeError, match="not been executed"):
        G.OutputNode((x + 1).var).get_value()


def test_quantizing_a_network_var_keeps_it_in_the_graph() -> None:
    """MegEngine's test_as_type on a VarNode: astype to quantized dtypes builds graph ops
    (it used to wrap the output as a plain tensor without data)."""
    x = Network().make_const(np.array([1, 2, 3], dtype=np.float32))
    y = x.astype(qint8(0.1))
    assert isinstance(y, VarNode) and get_scale(y.dtype) == pytest.approx(0.1)
    z = y.astype(quint8(0.3, 127))
    assert get_zero_point(z.dtype) == 127
    np.testing.assert_array_equal(y.numpy().astype(np.int32), [10, 20, 30])


def test_moving_a_network_var_to_another_device_keeps_it_in_the_graph() -> None:
    """``F.concat(..., device=)`` and ``x.to(device)`` on VarNodes (no data to move): the
    copy stays a graph op tagged with the device (MegEngine's test_concat_stack_device)."""
    import mge.functional as F

    net = Network()
    a = net.make_const(np.ones((2, 2), np.float32), device="cpu0")
    b = net.make_const(np.zeros((2, 2), np.float32), device="cpu0")
    assert a.device == "cpu0" and (a + b).device == "cpu0"
    out = F.concat([a, b], device="cpu1")
    assert isinstance(out, VarNode) and str(out.device).split(":")[0] == "cpu1"
    moved = a.to("cpu1")
    assert isinstance(moved, VarNode) and moved.device == "cpu1"
    np.testing.assert_array_equal(moved.numpy(), np.ones((2, 2), np.float32))


def test_setting_an_alias_leaves_the_var_it_aliased() -> None:
    # MegEngine's VarNode(x.var) is a second Python object for x's var: x[...] = v on it
    # makes it stand for the new var and leaves x as it was
    net = Network()
    x = net.make_const(np.arange(25, dtype=np.int32).reshape(5, 5))
    alias = VarNode(x.var)
    alias[(0, 4, 2), :] = np.arange(15, dtype=np.int32).reshape(3, 5)
    expected = np.arange(25, dtype=np.int32).reshape(5, 5)
    np.testing.assert_array_equal(x.numpy(), expected)
    expected[[0, 4, 2]] = np.arange(15).reshape(3, 5)
    np.testing.assert_array_equal(alias.numpy(), expected)
    node = G.OutputNode(alias.var)
    node.graph.compile(node.outputs).execute()
    np.testing.assert_array_equal(node.get_value().numpy(), expected)
    # and setting x leaves its aliases standing for the var x was
    x[0, 0] = 100
    assert x.numpy()[0, 0] == 100 and VarNode(alias.var).numpy()[0, 0] == 0
    other = VarNode(x.var)
    x[0, 0] = 7
    assert other.numpy()[0, 0] == 100 and x.numpy()[0, 0] == 7


def test_assigning_an_array_to_a_whole_graph_var() -> None:
    # MegEngine's test_set_value[is_varnode]: a graph var has no value to replace, so
    # ``v[...] = array`` assigns through the indexing op (a plain tensor is replaced)
    net = Network()
    v = net.make_const(np.zeros((2, 3), np.float32))
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    v[...] = value
    assert isinstance(v, VarNode)
    np.testing.assert_array_equal(v.numpy(), value)
