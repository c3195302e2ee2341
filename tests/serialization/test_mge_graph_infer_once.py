"""Loading infers each op once where ``add_op`` and folding see the same inputs."""

from __future__ import annotations

import io

import numpy as np
import pytest

from mge.graph import Graph
from mge.ops import Elemwise
from mge.ops.shape import GetVarShape
from mge.runtime.executor import Executor
from mge.serialization.mge_graph import dump_graph, load_graph


def _graph() -> Graph:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (r,) = g.add_op(Elemwise(mode="RELU"), [x])
    (s,) = g.add_op(GetVarShape(), [r])  # a value known while loading
    (d,) = g.add_op(Elemwise(mode="MUL"), [s, g.add_const(np.int32(2))])
    r.name, d.name = "r", "d"
    g.outputs = [r, d]
    return g


def test_ops_without_loading_time_values_infer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = dump_graph(_graph())
    calls: list[str] = []
    infer = Elemwise.infer

    def counted(self: Elemwise, inputs):  # noqa: ANN001, ANN202
        calls.append(self.mode)
        return infer(self, inputs)

    monkeypatch.setattr(Elemwise, "infer", counted)
    loaded = load_graph(io.BytesIO(data)).graph
    # RELU reads the input: one infer; MUL reads a shape known while loading: inferred
    # again with that value (as fold_values does), so its folded value stays right
    assert calls.count("RELU") == 1 and calls.count("MUL") == 2
    monkeypatch.setattr(Elemwise, "infer", infer)
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    r, d = Executor(loaded).run(x)
    np.testing.assert_array_equal(r, np.maximum(x, 0))
    assert d.tolist() == [4, 6]


def test_add_op_takes_checked_infos() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    op = Elemwise(mode="RELU")
    infos = op.check_inputs([x.info])
    (y,) = g.add_op(op, [x], infos=infos)
    assert (y.shape, y.dtype) == ((2, 3), np.dtype("float32"))
    g.outputs = [y]
    g.lint()
