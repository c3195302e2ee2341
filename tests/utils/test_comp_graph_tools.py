"""comp_graph_tools over dumped graphs (MegEngine 1.13's unit/utils test_cgtools cases)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.core.tensor import megbrain_graph as G
from mge.graph import Graph
from mge.jit import trace
from mge.utils import comp_graph_tools as cgtools


def _dump(fn, *args, **kwargs) -> io.BytesIO:
    file = io.BytesIO()
    fn.dump(file, optimize_for_inference=False, **kwargs)
    file.seek(0)
    return file


def _diamond() -> list:
    @trace(symbolic=True, capture_as_const=True)
    def func(x, y):
        a = x + y
        return F.relu(a) - F.abs(a), F.ceil(a) * 2 / F.floor(a)

    func(mge.tensor(1.0), mge.tensor(2.0))
    return G.load_graph(_dump(func)).output_vars_list


def test_graph_traversal_counts_every_input_and_indexes_readers() -> None:
    net = M.Conv2d(3, 4, 3)

    @trace(symbolic=True, capture_as_const=True)
    def fun(data):
        return net(data)

    fun(mge.tensor(np.random.random([1, 3, 8, 8]).astype(np.float32)))
    outputs = G.load_graph(_dump(fun)).output_vars_list
    map_oprs, map_vars, var2oprs, opr2receivers, indegree2opr, opr2indegree = (
        cgtools.graph_traversal(outputs))
    data = cgtools.get_dep_vars(outputs, "Host2DeviceCopy")[0]
    ((reader, index),) = var2oprs[data.id]
    assert index == 0 and map_oprs[reader].type == "ConvolutionForward"
    assert map_vars[data.id] is data
    for opr_id, degree in opr2indegree.items():
        assert degree == len(map_oprs[opr_id].inputs)
        if degree:
            assert opr_id in indegree2opr[degree]
    for vid, readers in var2oprs.items():
        for opr_id, k in readers:
            assert map_oprs[opr_id].inputs[k] is map_vars[vid]
            assert opr_id in opr2receivers[map_vars[vid].owner.id]


def test_a_var_read_twice_counts_twice() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def square(x):
        return x * x

    square(mge.tensor([2.0]))
    outputs = G.load_graph(_dump(square)).output_vars_list
    _, _, var2oprs, opr2receivers, _, opr2indegree = cgtools.graph_traversal(outputs)
    mul = outputs[0].owner
    assert opr2indegree[mul.id] == 2
    x = mul.inputs[0]
    assert var2oprs[x.id] == [(mul.id, 0), (mul.id, 1)]
    assert opr2receivers[x.owner.id] == [mul.id, mul.id]


def test_oprs_seq_is_topological_with_providers_next_to_readers() -> None:
    outputs = _diamond()
    seq = cgtools.get_oprs_seq(outputs, prune_immtensor=False)
    position = {opr.id: i for i, opr in enumerate(seq)}
    assert len(position) == len(seq) == len(Graph().ops(outputs))
    for opr in seq:
        for inp in opr.inputs:
            assert position[inp.owner.id] < position[opr.id]
        if opr.type == "ImmutableTensor":  # moved right before its first reader
            assert seq[position[opr.id] + 1] in [o for o in seq if
                                                 any(v.owner is opr for v in o.inputs)]
    assert [o.type for o in seq[:2]] == ["Host2DeviceCopy", "Host2DeviceCopy"]
    pruned = cgtools.get_oprs_seq(outputs)
    assert [o for o in seq if o.type != "ImmutableTensor"] == pruned


def test_priorities_order_free_operators() -> None:
    outputs = _diamond()
    seq = cgtools.get_oprs_seq(outputs)
    unary = [o for o in seq if o.type == "Elemwise" and len(o.inputs) == 1]
    assert len(unary) == 4
    last = unary[-1]
    last.priority = -1  # a lower priority runs first where the order is free
    reordered = [o for o in cgtools.get_oprs_seq(outputs) if o in unary]
    assert reordered[0] is last
    cgtools.set_priority_to_id(outputs)
    assert last.priority == -1
    assert all(o.priority == o.id for o in seq if o is not last)


def test_dep_vars_and_owner_helpers() -> None:
    outputs = _diamond()
    inputs = cgtools.get_dep_vars(outputs, "Host2DeviceCopy")
    assert sorted(v.name for v in inputs) == ["arg_0", "arg_1"]
    assert all(cgtools.get_owner_opr_type(v) == "Host2DeviceCopy" for v in inputs)
    assert cgtools.get_dep_vars(outputs)[:2] == outputs
    assert cgtools.get_owner_opr_inputs(outputs[0]) is outputs[0].owner.inputs
    with pytest.raises(TypeError, match="expected OpNode"):
        cgtools.get_opr_type(outputs[0])
    assert cgtools.find_vars_by_name(outputs, ["arg_1"])[0].name == "arg_1"
    with pytest.raises(ValueError, match="Can not find varnode"):
        cgtools.find_vars_by_name(outputs, ["nope"])


def test_graph_inference_by_position_and_name() -> None:
    class Net(M.Module):
        def forward(self, a, b):
            return a - b, a * b

    @trace(symbolic=True, capture_as_const=True)
    def function(a, b, *, net=None):
        return net(a, b)

    a, b = np.array([1, 2, 3]), np.array([3])
    x, y = function(mge.tensor(a), mge.tensor(b), net=Net())
    file = _dump(function, arg_names=["a", "b"], output_names=["x", "y"])
    graph = cgtools.GraphInference(file)
    for results in (graph.run(inp_dict={"a": a, "b": b}), graph.run(a, inp_dict={"b": b}),
                    graph.run(a, b)):
        np.testing.assert_equal(results["x"], x.numpy())
        np.testing.assert_equal(results["y"], y.numpy())
    with pytest.raises(ValueError, match=r"expects inputs \['a', 'b'\], but gets"):
        graph.run(a)
    file.seek(0)
    only_x = cgtools.GraphInference(file, outputs=["x"]).run(a, b)
    assert list(only_x) == ["x"]


def test_graph_inference_takes_a_scalar_for_a_files_scalar_input() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def function(a):
        return a * 2

    function(mge.tensor(np.float32(3)))
    graph = cgtools.GraphInference(_dump(function, arg_names=["a"]))
    (out,) = graph.run(np.float32(3)).values()  # the file's input is (1,): MegEngine has no 0-d
    np.testing.assert_equal(out, [6.0])


def test_graph_inference_follows_other_input_shapes() -> None:
    # MegEngine's test_subtensor_when_shape_invalid: a dump whose ops follow the input
    # size runs at another size; one that cannot take it names the input and the op
    @trace(symbolic=True, capture_as_const=True)
    def count(inp):
        return F.arange(4, inp.shape[-1] * 8 + 4, 8).shape[0]

    count(mge.tensor(np.zeros((1, 3, 6, 6), "float32")))
    graph = cgtools.GraphInference(_dump(count, arg_names=["data"]))
    for size in (6, 10, 6, 17):
        (out,) = graph.run(inp_dict={"data": np.zeros((1, 3, size, size), "float32")}).values()
        assert out.tolist() == [size]

    @trace(symbolic=True, capture_as_const=True)
    def flat(inp):
        return inp.reshape(6) * 2

    flat(mge.tensor(np.ones((2, 3), "float32")))
    graph = cgtools.GraphInference(_dump(flat, arg_names=["x"]))
    (out,) = graph.run(np.ones((2, 3), "float32")).values()
    np.testing.assert_equal(out, np.full(6, 2.0))
    with pytest.raises(ValueError, match=r"input 'x': expected shape \(2, 3\), got \(4, 3\)"):
        graph.run(np.ones((4, 3), "float32"))


def test_replace_vars_and_oprs_copy_what_reads_the_replaced_vars() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def fwd(a, b):
        return (a + b) * 2

    fwd(mge.tensor([1, 2]), mge.tensor([3, 4]))
    (out,) = G.load_graph(_dump(fwd, arg_names=["a", "b"], output_names="o")).output_vars_list
    two, add = out.owner.inputs  # MegEngine's order: MUL(const<2>, ADD), by var id
    a, b = add.owner.inputs
    (new_out,) = cgtools.replace_vars([out], {add: a})
    assert new_out is not out and new_out.owner.inputs[1] is a and out.owner.inputs[1] is add
    (same,) = cgtools.replace_oprs([out], {add.owner: b.owner})
    assert same.owner.inputs[1] is b
    with pytest.raises(ValueError, match="shape or dtype differs"):
        cgtools.replace_vars([out], {add: two})
