"""``specialize``: the replay infers again only the ops whose input types changed."""

from __future__ import annotations

import numpy as np
import pytest

from mge.graph import Graph
from mge.graph.specialize import specialize
from mge.ops import Elemwise
from mge.ops.shape import Reshape


def _graph() -> Graph:
    g = Graph()
    x = g.add_input("x", (2, 4), "float32")
    w = g.add_const(np.ones((1, 4), np.float32))
    (y,) = g.add_op(Elemwise(mode="ADD"), [x, w])
    (r,) = g.add_op(Reshape(shape=(2, 2, 2)), [y])
    g.outputs = g.add_op(Elemwise(mode="RELU"), [r])
    return g


@pytest.mark.parametrize(("shape", "inferred"), [((2, 4), 0), ((3, 4), 3)])
def test_replay_reinfers_only_ops_whose_inputs_changed(
        shape: tuple[int, ...], inferred: int, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _graph()
    calls: list[str] = []
    for cls in (Elemwise, Reshape):
        infer = cls.infer
        monkeypatch.setattr(cls, "infer", lambda self, ins, infer=infer: (
            calls.append(self.type_name), infer(self, ins))[1])
    new = specialize(g, {"x": shape})
    assert len(calls) == inferred
    assert [n.outputs[0].shape for n in new.ops()][-3:] == \
        [shape, (shape[0], 2, 2), (shape[0], 2, 2)]
    monkeypatch.undo()
    new.lint()  # the kept infos are what infer gives
