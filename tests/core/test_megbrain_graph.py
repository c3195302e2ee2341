"""``megengine.core.tensor.megbrain_graph``'s graph-building API on mge (``InputNode``,
``apply_normal_varnode``, ``OutputNode``, ``Graph.compile``/``execute``) and
``ops.TypeCvt`` given MegEngine's numpy quantized dtypes (MegEngine's
``test_dtype_quant.py`` drives both)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
from mge.core.ops import builtin as ops
from mge.core.tensor import dtype
from mge.core.tensor import megbrain_graph as G


def _run(calc, value: np.ndarray, dt: np.dtype) -> np.ndarray:
    g = G.Graph()
    inp = G.InputNode(device="xpux", dtype=dt, shape=value.shape, graph=g)
    out = G.OutputNode(calc(inp.outputs[0]))
    f = g.compile(out.outputs[0])
    inp.set_value(mge.tensor(value, dtype=dt)._dev_tensor())
    f.execute()
    return out.get_value().numpy()


def _typecvt(dt: np.dtype):
    return lambda var: G.apply_normal_varnode(ops.TypeCvt(dtype=dt), var)[0]


@pytest.mark.parametrize("dt", [dtype.qint1(0.01), dtype.qint4(0.01), dtype.qint8(0.01),
                                dtype.quint4(0.01, 5), dtype.quint8(0.01, 135)],
                         ids=lambda d: d.metadata["mgb_dtype"]["name"])
def test_typecvt_to_quantized_and_back(dt: np.dtype) -> None:
    """Each scale and zero point gives its own codes (numpy's == on dtypes ignores them, so
    a TypeCvt op keeps the dtype as a spec string)."""
    data = np.linspace(-1.0, 4.0, 27, dtype=np.float32).reshape(3, 3, 3)
    codes = _run(_typecvt(dt), data, np.dtype(np.float32))
    want = mge.tensor(data).astype(dt).numpy()
    assert codes.dtype.metadata == dt.metadata
    np.testing.assert_array_equal(codes, want)
    back = _run(_typecvt(np.dtype(np.float32)), codes, dt)
    np.testing.assert_array_equal(back, mge.tensor(want).astype("float32").numpy())


def test_typecvt_keeps_the_scale_in_its_param() -> None:
    a, b = ops.TypeCvt(dtype=dtype.qint8(0.5)), ops.TypeCvt(dtype=dtype.qint8(0.25))
    assert a != b and a.dtype == "QuantizedS8(scale=0.5)"
    assert ops.TypeCvt(dtype=np.float32) == ops.TypeCvt(dtype="float32")
    with pytest.raises(TypeError, match="TypeCvt: "):
        ops.TypeCvt(dtype=object)


def test_identity_graph_reads_the_value_set_after_execute() -> None:
    """MegEngine executes asynchronously: a value set after ``execute`` is the one read."""
    g = G.Graph()
    px = G.InputNode(device="xpux", dtype="float32", graph=g)
    py = G.OutputNode(px.outputs[0])
    f = g.compile(py.outputs[0])
    for k in range(2):
        f.execute()
        x = mge.tensor(np.arange(k + 2, dtype=np.float32))._dev_tensor()
        px.set_value(x)
        np.testing.assert_array_equal(py.get_value().numpy(), x.numpy())
        f.wait()


def test_errors_name_the_missing_step() -> None:
    g = G.Graph()
    px = G.InputNode(dtype="float32", shape=(2,), graph=g)
    py = G.OutputNode(px.outputs[0])
    with pytest.raises(RuntimeError, match="has not been executed"):
        py.get_value()
    g.compile(py.outputs[0]).execute()
    with pytest.raises(RuntimeError, match="no value was set"):
        py.get_value()


def test_callbacks_feed_and_receive_each_execution() -> None:
    values = iter([np.float32([1.0, -2.0]), np.float32([3.0])])
    got: list = []
    g = G.Graph()
    g.options.async_exec_level = 0b100  # MegEngine's setting is taken and changes nothing
    x, _ = G.input_callback(lambda: next(values), device="xpux", dtype="float32", graph=g)
    neg = G.apply_normal_varnode(ops.Elemwise(ops.Elemwise.Mode.NEGATE), x)[0]
    f = g.compile(G.output_callback(got.append, neg))
    f()
    f()
    assert [v.numpy().tolist() for v in got] == [[-1.0, 2.0], [-3.0]]
    assert got[0].comp_node == "xpux" and got[0].dtype == np.float32


def test_input_callback_errors_reach_the_reader() -> None:
    def fail() -> None:
        raise RuntimeError("QwQ")

    g = G.Graph()
    x, _ = G.input_callback(fail, device="xpux", dtype="float32", graph=g)
    y = G.OutputNode(x)
    g.compile(y.outputs[0]).execute()
    with pytest.raises(RuntimeError, match="QwQ"):
        y.get_value()


def test_attr_output_gives_shape_dtype_and_device() -> None:
    g = G.Graph()
    px = G.InputNode(device="xpux", dtype="float32", graph=g)
    py = G.AttrOutputNode(px.outputs[0])
    f = g.compile(py.outputs[0])
    for shape in [(2,), (3, 1)]:
        f.execute()
        px.set_value(mge.tensor(np.zeros(shape, np.float32))._dev_tensor())
        attr = py.get_value()
        assert (attr.shape, attr.dtype, attr.device) == (shape, np.float32, "xpux")
