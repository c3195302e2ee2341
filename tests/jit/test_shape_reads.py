"""Python reads of shape-derived values inside ``jit.trace`` (``int(x.shape[1])``,
``.item()``, ``.numpy()``, ``bool(...)``, ``range(...)``) are guarded in a dump: at an
input size that changes the value read, mge.lite raises :class:`ShapeReadError` naming
the read, and real MegEngine fails its ``AssertEqual``, instead of a wrong result."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.lite as lite
from mge.jit import trace
from mge.ops.utility import ShapeReadError
from mge.serialization.fbs import read_model
from tests.oracle import OracleError, requires_oracle, run_in_megengine

Fn = Callable[[mge.Tensor], mge.Tensor]

#: name -> (function, what the guard names, a 2x5 input changes it)
READS: dict[str, tuple[Fn, str]] = {
    "int": (lambda x: x * int(x.shape[1]), "x.shape[1] == 3"),
    "item": (lambda x: x + x.shape[1].item(), "x.shape[1] == 3"),
    "numpy": (lambda x: x + float(x.shape.numpy()[1]), "x.shape == [2, 3]"),
    "bool": (lambda x: x * 2 if bool(x.shape[1] > 4) else x, "== 0"),
    "range": (lambda x: sum((x[:, i] for i in range(x.shape[1])), F.zeros(x.shape[0])),
              "x.shape[1] == 3"),
    "index": (lambda x: x * [1.0, 2.0, 3.0, 4.0, 5.0][x.shape[1]], "x.shape[1] == 3"),
    # a shape built from the read: the guard names it before the op fails on the shapes
    "ones": (lambda x: x + F.ones(int(x.shape[1])), "x.shape[1] == 3"),
}

#: functions whose reads the graph follows (or that read data, baked as in MegEngine)
UNGUARDED: dict[str, Fn] = {
    "reshape": lambda x: x.reshape(x.shape[0], -1) * 2,
    "zeros": lambda x: F.zeros(x.shape) + x,
    "print": lambda x: (repr(x.shape), x * 2)[1],
    "data_read": lambda x: x * float(x.sum() > -1e9),
    "arange_count": lambda x: x + F.arange(x.shape[1]),
}


def _dump(fn: Fn, shape: tuple[int, ...] = (2, 3)) -> bytes:
    f = trace(fn, symbolic=True, capture_as_const=True)
    f(mge.tensor(np.ones(shape, "float32")))
    buf = io.BytesIO()
    f.dump(buf, arg_names=["x"])
    return buf.getvalue()


def _data(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(3).random(shape).astype("float32")


def _lite(model: bytes, x: np.ndarray, backend: str = "auto") -> np.ndarray:
    config = lite.LiteConfig()
    config.plan_backend = backend
    net = lite.LiteNetwork(config)
    with warnings.catch_warnings():  # the guards are checked while planning: no backend
        warnings.simplefilter("error", UserWarning)  # falls back for want of them
        net.load(model)
        net.get_io_tensor("x").set_data_by_copy(x)
        net.forward()
    net.wait()
    return net.get_io_tensor(net.get_output_name(0)).to_numpy()


def _expected(fn: Fn, x: np.ndarray) -> np.ndarray:
    """``fn`` at ``x``'s own size (``x.shape`` is a Tensor only inside a trace)."""
    return trace(fn, symbolic=True)(mge.tensor(x)).numpy()


@pytest.mark.parametrize("name", sorted(READS))
def test_a_read_is_guarded_in_the_dump(name: str) -> None:
    fn, named = READS[name]
    model = _dump(fn)
    assert {"AssertEqual", "VirtualDep"} <= {op.type for op in read_model(model, "m").operators}
    x = _data((2, 3))
    np.testing.assert_allclose(_lite(model, x), _expected(fn, x), rtol=1e-6)
    pattern = r"the dump read .*" + re.escape(named) + r" while tracing; this input gives"
    with pytest.raises(ShapeReadError, match=pattern):
        _lite(model, _data((2, 5)))


@pytest.mark.parametrize("name", ["int", "range"])
def test_the_guards_leave_the_plan_on_onnxruntime(name: str) -> None:
    pytest.importorskip("onnxruntime")
    fn, named = READS[name]
    model = _dump(fn)
    x = _data((4, 3))
    np.testing.assert_allclose(_lite(model, x, "onnxruntime"), _expected(fn, x), rtol=1e-6)
    with pytest.raises(ShapeReadError, match=re.escape(named)):
        _lite(model, _data((2, 5)), "onnxruntime")


@pytest.mark.parametrize("name", sorted(UNGUARDED))
def test_followed_or_data_reads_write_no_guard(name: str) -> None:
    fn = UNGUARDED[name]
    model = _dump(fn)
    assert "AssertEqual" not in {op.type for op in read_model(model, "m").operators}
    if name != "data_read":
        x = _data((4, 5))
        np.testing.assert_allclose(_lite(model, x), _expected(fn, x), rtol=1e-6)


def test_the_guarded_output_keeps_its_name() -> None:
    model = _dump(lambda x: F.softmax(x * int(x.shape[1])))
    net = lite.LiteNetwork()
    net.load(model)
    assert net.get_output_name(0) == _unguarded_name()


def _unguarded_name() -> str:
    model = _dump(lambda x: F.softmax(x * 3))
    net = lite.LiteNetwork()
    net.load(model)
    return net.get_output_name(0)


def test_a_guarded_graph_refuses_onnx_export() -> None:
    pytest.importorskip("onnx")
    from mge.convert.onnx.exporter import export_graph
    from mge.serialization.mge_graph import load_graph

    graph = load_graph(io.BytesIO(_dump(READS["int"][0]))).graph
    with pytest.raises(Exception, match="AssertEqual"):
        export_graph(graph)


def test_eager_replay_still_raises_on_a_changed_read() -> None:
    f = trace(lambda x: x * int(x.shape[1]), symbolic=True, capture_as_const=True)
    f(mge.tensor(np.ones((2, 3), "float32")))
    np.testing.assert_array_equal(f(mge.tensor(np.ones((2, 3), "float32"))).numpy(),
                                  np.full((2, 3), 3.0))
    # another shape records its own graph; the dump keeps the first one's guard
    np.testing.assert_array_equal(f(mge.tensor(np.ones((2, 5), "float32"))).numpy(),
                                  np.full((2, 5), 5.0))


@requires_oracle
@pytest.mark.parametrize("name", ["bool", "int", "numpy", "range"])
def test_megengine_runs_the_guard_and_fails_at_a_changed_read(name: str, tmp_path) -> None:  # noqa: ANN001
    fn = READS[name][0]
    path = tmp_path / f"{name}.mge"
    path.write_bytes(_dump(fn))
    x = _data((2, 3))
    (out,) = run_in_megengine(path, {"x": x}, runner="graph").values()
    np.testing.assert_allclose(out, _expected(fn, x), rtol=1e-6)
    with pytest.raises(OracleError, match="Unequal value"):
        run_in_megengine(path, {"x": _data((2, 5))}, runner="lite")


@pytest.mark.parametrize("name", sorted(READS))
def test_specialize_runs_the_guards_and_builds_no_node_for_them(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mge.graph.ir import Graph
    from mge.graph.specialize import specialize
    from mge.serialization.mge_graph import graph_from_bytes

    fn, named = READS[name]
    graph = graph_from_bytes(_dump(fn)).graph
    built: list[str] = []
    add_op = Graph.add_op

    def recording(self, op, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        built.append(op.type_name)
        return add_op(self, op, *args, **kwargs)

    monkeypatch.setattr(Graph, "add_op", recording)
    specialize(graph, {"x": (2, 3)})
    assert "AssertEqual" not in built  # checked while planning, no dead node left behind
    with pytest.raises(ShapeReadError, match=re.escape(named)):
        specialize(graph, {"x": (2, 5)})
