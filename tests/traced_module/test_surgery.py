"""Graph surgery on TracedModules; every edit is followed by compile() and lint()."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
import mge.traced_module as tm

from .nets import Net, data


def _traced() -> tuple[tm.TracedModule, mge.Tensor, Net]:
    net, x = Net(), data(2, 3)
    return tm.trace_module(net, x), x, net


def _check(traced: tm.TracedModule) -> None:
    for graph in (traced.graph, traced.b1.graph, traced.b2.graph):
        graph.compile()
        graph.lint()


def test_insert_op_after_every_relu() -> None:
    traced, x, net = _traced()
    relus = traced.graph.get_function_by_type(F.relu).as_list()
    assert len(relus) == 2
    for expr in relus:
        graph, out = expr.top_graph, expr.outputs[0]
        with graph.insert_exprs():
            negated = F.neg(out)
        graph.replace_node({out: negated})
    _check(traced)
    assert traced.graph.get_function_by_type(F.neg).as_count() == 2
    scale = traced.b1.scale.numpy()
    y1 = -np.maximum(x.numpy() * scale, 0) + 1
    y2 = -np.maximum(y1 * scale, 0) + 1
    np.testing.assert_allclose(traced(x)[1].numpy(), y2, atol=1e-6)


def test_insert_with_tensor_methods_and_shapes() -> None:
    traced, x, _ = _traced()
    graph = traced.graph
    out = graph.outputs[1]
    with graph.insert_exprs():
        doubled = (out * 2).reshape(-1)
    assert doubled.shape == (6,) and doubled.dtype == np.float32
    expect = traced(x)[1].numpy().reshape(-1) * 2
    graph.reset_outputs((graph.outputs[0], doubled))
    _check(traced)
    np.testing.assert_allclose(traced(x)[1].numpy(), expect, atol=1e-6)


def test_replace_submodule() -> None:
    traced, x, _ = _traced()
    traced.act = M.Sigmoid()
    y = traced(x)[1]
    np.testing.assert_allclose(traced(x)[0].numpy(), 1 / (1 + np.exp(-(y.numpy() - 3))),
                               atol=1e-6)
    _check(traced)


def test_delete_op_and_rewire_users() -> None:
    traced, x, _ = _traced()
    graph = traced.b1.graph
    relu = graph.get_function_by_type(F.relu, recursive=False).as_unique()
    graph.replace_node({relu.outputs[0]: relu.inputs[0]})
    graph.compile()
    graph.lint()
    assert graph.get_function_by_type(F.relu).as_count() == 0
    expect = x.numpy() * traced.b1.scale.numpy() + 1
    np.testing.assert_allclose(traced.b1(x).numpy(), expect, atol=1e-6)


def test_add_and_remove_outputs() -> None:
    traced, x, _ = _traced()
    graph = traced.graph
    b1_out = graph.get_node_by_name("b1_out").as_unique()
    graph.add_output_node(b1_out)
    _check(traced)
    outs = traced(x)
    assert len(outs) == 3
    np.testing.assert_allclose(outs[2].numpy(), traced.b1(x).numpy())
    graph.reset_outputs(graph.outputs[0])
    _check(traced)
    assert isinstance(traced(x), mge.Tensor)
    assert graph.get_module_by_type(M.ReLU).as_count() == 1


def test_add_input() -> None:
    traced, x, _ = _traced()
    graph = traced.graph
    bias = graph.add_input_node(shape=(2, 3), dtype="float32", name="bias")
    out = graph.outputs[0]
    with graph.insert_exprs():
        shifted = out + bias
    graph.reset_outputs(shifted)
    _check(traced)
    b = data(2, 3, seed=7)
    np.testing.assert_allclose(traced(x, b).numpy(), traced.act((traced.b2(traced.b1(x))) - 3)
                               .numpy() + b.numpy(), atol=1e-6)
    sub = traced.b1
    with pytest.raises(tm.GraphError, match="top graph"):
        sub.graph.add_input_node(shape=(1,))


def test_rename_nodes() -> None:
    traced, x, _ = _traced()
    node = traced.graph.get_node_by_name("act_out").as_unique()
    node.name = "logits"
    assert traced.graph.get_node_by_name("logits").as_unique() is node
    assert "%logits" in str(traced.graph)
    with pytest.raises(tm.GraphError, match="already used"):
        node.name = "b1_out"
    _check(traced)
    traced(x)


def test_replace_function_call_with_another() -> None:
    traced, x, _ = _traced()
    for expr in traced.graph.get_function_by_type(F.relu).as_list():
        graph = expr.top_graph
        with graph.insert_exprs(expr):
            new = F.sigmoid(expr.inputs[0])
        graph.replace_node({expr.outputs[0]: new})
    _check(traced)
    assert traced.graph.get_function_by_type(F.relu).as_count() == 0
    assert traced.graph.get_function_by_type(F.sigmoid).as_count() == 2
    s = traced.b1.scale.numpy()
    y1 = 1 / (1 + np.exp(-x.numpy() * s)) + 1
    y2 = 1 / (1 + np.exp(-y1 * s)) + 1
    np.testing.assert_allclose(traced(x)[1].numpy(), y2, atol=1e-6)


def test_flatten_then_edit() -> None:
    traced, x, _ = _traced()
    flat = traced.flatten()
    graph = flat.graph
    first = graph.get_function_by_type(F.relu).as_list()[0]
    with graph.insert_exprs():
        clipped = F.minimum(first.outputs[0], 0.5)
    graph.replace_node({first.outputs[0]: clipped})
    graph.compile()
    graph.lint()
    s = traced.b1.scale.numpy()
    y1 = np.minimum(np.maximum(x.numpy() * s, 0), 0.5) + 1
    y2 = np.maximum(y1 * s, 0) + 1
    np.testing.assert_allclose(flat(x)[1].numpy(), y2, atol=1e-6)


def test_dangling_replacement_is_refused() -> None:
    traced, _, _ = _traced()
    graph = traced.b1.graph
    mul = graph.get_method_by_type("__mul__", recursive=False).as_unique()
    add = graph.get_method_by_type("__add__", recursive=False).as_unique()
    with graph.insert_exprs(add):  # placed after the relu that uses mul's output
        late = F.neg(mul.outputs[0])
    with pytest.raises(tm.GraphError, match="dangling"):
        graph.replace_node({mul.outputs[0]: late})
    graph.compile()
    graph.lint()


def test_foreign_nodes_are_refused() -> None:
    traced, _, _ = _traced()
    other = tm.trace_module(Net(), data(2, 3))
    with pytest.raises(tm.GraphError, match="does not belong"):
        traced.graph.reset_outputs(other.graph.outputs[0])
    with pytest.raises(tm.GraphError, match="must both belong"):
        traced.graph.replace_node({traced.graph.outputs[0]: other.graph.outputs[0]})


def test_node_ops_outside_insert_exprs_fail_clearly() -> None:
    traced, _, _ = _traced()
    node = traced.graph.outputs[0]
    with pytest.raises(RuntimeError, match="insert_exprs"):
        node + 1  # noqa: B018
