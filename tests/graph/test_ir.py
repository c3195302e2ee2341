"""The graph IR: building, topological order, editing, copying, lint and the text form."""

from __future__ import annotations

import numpy as np
import pytest

from mge.graph import Graph, GraphError
from mge.ops import Elemwise, TypeCvt


def _small() -> tuple[Graph, dict]:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (r,) = g.add_op(Elemwise(mode="RELU"), [x])
    c = g.add_const(np.arange(3, dtype=np.float32), name="c")
    (y,) = g.add_op(Elemwise(mode="ADD"), [r, c])
    g.outputs = [y]
    return g, {"x": x, "r": r, "c": c, "y": y}


def test_build_and_lint() -> None:
    g, v = _small()
    g.lint()
    assert [n.type for n in g.ops()] == [
        "Host2DeviceCopy", "Elemwise", "ImmutableTensor", "Elemwise"]
    assert v["y"].owner.inputs == [v["r"], v["c"]]
    assert v["y"].inputs == (v["r"], v["c"])
    assert v["x"].is_input and v["c"].is_const and not v["r"].is_const
    assert v["c"].value.tolist() == [0, 1, 2] and not v["c"].value.flags.writeable
    assert v["r"].owner.params == {"mode": "RELU"}
    assert g.params() == [v["c"]]
    assert g.users()[v["r"]] == [v["y"].owner]


def test_add_op_checks_infer_before_anything_runs() -> None:
    g = Graph()
    a = g.add_input("a", (2, 3), "float32")
    b = g.add_input("b", (4,), "float32")
    with pytest.raises(ValueError, match=r"Elemwise.*broadcast"):
        g.add_op(Elemwise(mode="ADD"), [a, b])
    with pytest.raises(GraphError, match="duplicate graph input"):
        g.add_input("a", (1,), "float32")


def test_distinct_constants_stay_distinct() -> None:
    g = Graph()
    c1, c2 = g.add_const(0.0), g.add_const(0.0)
    assert c1 is not c2 and c1.owner is not c2.owner


def test_replace_var_keeps_topology() -> None:
    g, v = _small()
    (t,) = g.add_op(TypeCvt(dtype="float32"), [v["r"]])  # t reads r: it must keep reading r
    g.replace_var(v["r"], t)
    g.lint()
    assert v["y"].owner.inputs[0] is t and t.owner.inputs[0] is v["r"]
    (h,) = g.add_op(TypeCvt(dtype="float16"), [v["r"]])
    with pytest.raises(GraphError, match="shape or dtype differs"):
        g.replace_var(v["r"], h)


def test_replace_output_passes_the_name_on() -> None:
    g, v = _small()
    v["y"].name = "out"
    (z,) = g.add_op(Elemwise(mode="RELU"), [v["y"]])
    g.replace_var(v["y"], z)
    assert g.outputs == [z] and z.name == "out"


def test_copy_is_independent() -> None:
    g, v = _small()
    h = g.copy()
    h.lint()
    assert str(h) == str(g)
    assert h.outputs[0] is not v["y"]
    (z,) = h.add_op(Elemwise(mode="NEGATE"), [h.outputs[0]])
    h.outputs = [z]
    assert len(g.ops()) == 4 and len(h.ops()) == 5
    assert h.outputs[0].id not in {var.id for var in g.vars()}


def test_lint_finds_problems() -> None:
    g, v = _small()
    v["y"].shape = (3, 3)
    with pytest.raises(GraphError, match="infer says f32"):
        g.lint()
    g, v = _small()
    g.inputs = []
    with pytest.raises(GraphError, match="not in graph.inputs"):
        g.lint()
    g, v = _small()
    v["r"].owner.inputs = [v["y"]]  # cycle
    with pytest.raises(GraphError, match="cycle"):
        g.lint()
    g, v = _small()
    v["y"].owner.op = Elemwise(mode="SIN")
    with pytest.raises(GraphError, match="takes 1 inputs"):
        g.lint()
    with pytest.raises(GraphError, match="no outputs"):
        Graph().lint()


def test_text_form() -> None:
    g, v = _small()
    v["y"].name = "out"
    text = str(g)
    assert text.splitlines() == [
        "graph(%x: f32[2,3]) {",
        f"  %{v['r'].id} = Elemwise(%x, mode=RELU) -> f32[2,3]",
        "  %c = ImmutableTensor() -> f32[3]",
        f"  %out = Elemwise(%{v['r'].id}, %c, mode=ADD) -> f32[2,3]",
        "  return %out",
        "}",
    ]


def test_deep_graph_has_no_recursion_limit() -> None:
    g = Graph()
    x = g.add_input("x", (1,), "float32")
    for _ in range(5000):
        (x,) = g.add_op(Elemwise(mode="NEGATE"), [x])
    g.outputs = [x]
    assert len(g.ops()) == 5001


def test_ops_order_visits_inputs_in_order_once() -> None:
    g = Graph()
    x = g.add_input("x", (3,), "float32")
    (a,) = g.add_op(Elemwise(mode="RELU"), [x])
    (b,) = g.add_op(Elemwise(mode="NEGATE"), [x])
    (c,) = g.add_op(Elemwise(mode="ADD"), [b, a])
    (d,) = g.add_op(Elemwise(mode="MUL"), [c, a])
    g.outputs = [d, b]
    assert g.ops() == [x.owner, b.owner, a.owner, c.owner, d.owner]
    assert g.ops([a, d]) == [x.owner, a.owner, b.owner, c.owner, d.owner]
    assert g.users(g.ops()) == g.users()


def test_ops_order_puts_source_ops_where_their_readers_meet_them() -> None:
    g = Graph()
    x = g.add_input("x", (3,), "float32")
    k1 = g.add_const(np.ones(3, np.float32))
    k2 = g.add_const(np.ones(3, np.float32))
    (a,) = g.add_op(Elemwise(mode="RELU"), [x])
    (b,) = g.add_op(Elemwise(mode="ADD"), [k1, a])
    (c,) = g.add_op(Elemwise(mode="MUL"), [b, k2])
    g.outputs = [c]
    assert g.ops() == [k1.owner, x.owner, a.owner, b.owner, k2.owner, c.owner]
    assert g.ops([k2, c]) == [k2.owner, k1.owner, x.owner, a.owner, b.owner, c.owner]
