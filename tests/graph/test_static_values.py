from __future__ import annotations

import numpy as np

from mge.graph import Graph
from mge.graph.static_values import has_unknown_input
from mge.ops import Elemwise


def test_has_unknown_input_needs_an_unknown_and_no_value_known_while_building() -> None:
    g = Graph()
    x = g.add_input("x", (3,), "float32")
    c = g.add_const(np.ones(3, np.float32))
    (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    assert has_unknown_input([x, c], set())
    assert has_unknown_input([x, y], set())
    assert not has_unknown_input([c], set())  # constants only: values may fold
    assert not has_unknown_input([], set())
    assert not has_unknown_input([x, c], {x.id})  # all known
    assert not has_unknown_input([x, y], {y.id})  # a value known while building
