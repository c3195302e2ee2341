"""mge.utils.network: load a .mge, edit it in Python (F.* on its VarNodes), dump it again."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
import mge.utils.network_node as N
from mge.core.tensor import megbrain_graph as G
from mge.jit.tracing import trace
from mge.utils.comp_graph_tools import GraphInference
from mge.utils.network import Network, as_oprnode, as_varnode, set_symbolic_shape
from tests.oracle import FIXTURES, requires_oracle, run_in_megengine


def _dumped(fn, *args, **kwargs) -> io.BytesIO:
    fn(*args)
    file = io.BytesIO()
    fn.dump(file, optimize_for_inference=False, **kwargs)
    file.seek(0)
    return file


def _add_mul(**kwargs) -> io.BytesIO:
    @trace(symbolic=True, capture_as_const=True)
    def fwd(a, b):
        return (a + b) * 2

    return _dumped(fwd, mge.tensor([1, 2]), mge.tensor([3, 4]), arg_names=["a", "b"],
                   output_names="o", **kwargs)


def _run(net: Network, *inputs, **kwargs) -> dict:
    file = io.BytesIO()
    net.dump(file, **kwargs)
    file.seek(0)
    return GraphInference(file).run(*inputs)


def test_metadata_says_the_graph_was_modified() -> None:
    net = Network.load(_add_mul(user_info={"k": [1, 2]}))
    assert net.metadata == {"user_info": {"k": [1, 2]}, "graph_modified": False,
                            "optimized_for_inference": False}
    file = io.BytesIO()
    net.dump(file, user_info="edited", enable_fuse_conv_bias_nonlinearity=True)
    file.seek(0)
    assert Network.load(file).metadata == {
        "user_info": "edited", "graph_modified": True, "optimized_for_inference": True,
        "enable_fuse_conv_bias_nonlinearity": True, "enable_fuse_grain": True}
    file = io.BytesIO()
    net.dump(file, enable_metadata=False)
    file.seek(0)
    assert Network.load(file).metadata is None


def test_functional_ops_on_vars_build_graph_nodes() -> None:
    net = Network.load(_add_mul())
    a, b = net.var_filter.name("a").as_unique(), net.var_filter.name("b").as_unique()
    product = F.relu(F.mul(a, b))
    assert isinstance(product, N.VarNode) and isinstance(product.owner, N.Elemwise)
    assert product.owner.params == {"mode": "RELU"} and product.shape == (2,)
    with pytest.raises(ValueError, match="has no value: it depends on the graph input"):
        product.numpy()
    add = net.opr_filter.has_input(a).as_unique()
    net.replace_vars({add.outputs[0]: product})
    np.testing.assert_equal(_run(net, [1, 2], [3, 4])["o"], [6, 16])


def test_in_place_operators_and_replace_oprs() -> None:
    net = Network.load(_add_mul())
    a, b = net.var_filter.name("a").as_unique(), net.var_filter.name("b").as_unique()
    out = F.relu(F.mul(a, b))
    out += 2  # the object now stands for the sum; the relu var stays in the graph
    out *= 3
    added = out.owner.inputs[0].owner
    assert added.params == {"mode": "ADD"} and added.inputs[0].owner.params == {"mode": "RELU"}
    (out,) = net.add_dep_oprs(out)
    add = net.opr_filter.has_input(a).as_unique()
    old_outputs = list(add.outputs)
    net.replace_oprs({add: out.owner})
    assert all(v.owner is out.owner for v in old_outputs)
    assert out.owner.outputs == old_outputs
    np.testing.assert_equal(_run(net, [1, 2], [3, 4])["o"], [30, 60])


def test_splice_two_networks() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def second(a):
        return a * 2 - 1

    net1 = Network.load(_add_mul())
    net2 = Network.load(_dumped(second, mge.tensor([1, 2]), arg_names=["x"],
                                output_names=["y"]))
    net1.replace_vars({net1.var_filter.name("a").as_unique(): net2.output_vars[0]})
    names = [v.name for v in net1.all_vars]
    assert "a" not in names and "x" in names
    np.testing.assert_equal(_run(net1, [1, 2], [3, 4])["o"], [(1 + 3) * 2, (3 + 4) * 2])


def test_params_inputs_and_outputs() -> None:
    net = Network.load(_add_mul())
    net.params_filter.as_unique().set_value(3)
    np.testing.assert_equal(_run(net, [1, 2], [3, 4])["o"], [12, 18])
    zeros = net.make_const(np.array([0, 0]), name="zeros")
    net.replace_vars({net.var_filter.name("b").as_unique(): zeros})
    np.testing.assert_equal(_run(net, [1, 2])["o"], [3, 6])
    c = net.make_input_node((2,), np.int32, name="c")
    o = net.var_filter.name("o").as_unique()
    total = F.add(o, c)
    total.name = "o1"
    net.remove_output(o)
    net.add_output(total)
    assert net.output_vars == [total]
    np.testing.assert_equal(_run(net, [1, 2], [5, 5])["o1"], [8, 11])


def test_queries_and_filters() -> None:
    class Model(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = M.Conv2d(3, 4, 3), M.Conv2d(4, 4, 3)

        def forward(self, data):
            return self.conv2(self.conv1(data))

    @trace(symbolic=True, capture_as_const=True)
    def fwd(data, *, net):
        return net(data)

    fwd(mge.tensor(np.zeros((1, 3, 8, 8), np.float32)), net=Model())
    file = io.BytesIO()
    fwd.dump(file, arg_names=["data"], output_names="o", optimize_for_inference=False)
    file.seek(0)
    net = Network.load(file)
    assert net.data_providers_filter.as_count() == 1
    assert isinstance(net.get_opr_by_type(N.Host2DeviceCopy), N.Host2DeviceCopy)
    assert net.params_filter.as_count() == 4
    assert net.opr_filter.type(N.ConvolutionForward).as_count() == 2
    assert net.opr_filter.not_type(N.ConvolutionForward).as_count() == len(net.all_oprs) - 2
    data = net.get_var_by_name("data")
    assert isinstance(data, N.VarNode) and net.opr_filter.has_input(data).as_count() == 1
    assert isinstance(net.get_opr_by_name("DATA"), N.Host2DeviceCopy)  # case-insensitive
    assert net.var_filter.name("conv?.bias").as_count() == 2
    assert as_oprnode(data) is data.owner and as_varnode(data.owner) is data
    with pytest.raises(ValueError, match="2 nodes of type"):
        net.get_opr_by_type(N.ConvolutionForward)
    with pytest.raises(TypeError, match="all nodes should be"):
        list(net.opr_filter.check_type(N.Elemwise))


def test_reset_batch_size_and_rename() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return F.flatten(F.exp(x), 1)

    x = np.random.default_rng(0).random((3, 2, 4, 4)).astype(np.float32)
    net = Network.load(_dumped(f, mge.tensor(x), arg_names=["a"]))
    net.reset_batch_size(1)
    net.modify_opr_names("net")
    net.modify_opr_names(lambda name: "net1." + name)
    file = io.BytesIO()
    net.dump(file, optimize_for_inference=False)
    file.seek(0)
    loaded = Network.load(file)
    provider = loaded.data_providers_filter.as_unique()
    assert provider.shape == (1, 2, 4, 4) and provider.name == "net1.net.a"
    file.seek(0)
    (out,) = GraphInference(file).run(x[:1]).values()
    np.testing.assert_allclose(out, np.exp(x[:1]).reshape(1, 32), rtol=1e-6)
    with pytest.raises(ValueError, match="unused items in blacklist"):
        net.reset_batch_size(2, blacklist=["nope"])


def test_symbolic_shape_of_vars() -> None:
    net = Network.load(_add_mul())
    a = net.input_vars[0]
    saved = set_symbolic_shape(True)
    try:
        shape = a.shape
        assert isinstance(shape, N.VarNode) and isinstance(shape.owner, N.GetVarShape)
        set_symbolic_shape(False)
        assert a.shape == a.partial_shape == (2,)
    finally:
        set_symbolic_shape(saved)


def test_optimize_for_inference_on_dump() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return F.exp(x)

    net = Network.load(_dumped(f, mge.tensor([5.0])))
    file = io.BytesIO()
    net.dump(file, enable_io16xc32=True)
    file.seek(0)
    (out,) = G.load_graph(file).output_vars_list
    assert out.owner.inputs[0].dtype == np.float16


@requires_oracle
def test_edits_of_a_megengine_file_run_in_real_megengine_lite(tmp_path) -> None:
    net = Network.load(FIXTURES / "convnet_plain.mge")
    (logits,) = net.output_vars
    prob = F.softmax(logits, axis=1)
    prob.name = "prob"
    net.add_output(prob)  # add an output
    first_relu = next(o for o in net.all_oprs if o.params.get("mode") == "RELU")
    sigmoid = F.sigmoid(first_relu.inputs[0]).owner
    net.replace_oprs({first_relu: sigmoid})  # replace an operator
    net.modify_opr_names("edited")  # rename
    net.reset_batch_size(2)  # change the batch size
    path = tmp_path / "edited.mge"
    net.dump(str(path))
    data = np.random.default_rng(1).random((2, 3, 16, 16)).astype(np.float32)
    ours = GraphInference(str(path)).run(data)
    theirs = run_in_megengine(path, {"edited.data": data})
    assert set(theirs) == {"fc.ADD", "prob"} and theirs["prob"].shape == (2, 10)
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(theirs["prob"].sum(axis=1), 1, rtol=1e-5)
    # the sigmoid is really in: the unedited model gives other logits
    original = GraphInference(str(FIXTURES / "convnet_plain.mge"))
    assert not np.allclose(original.run(data[:1])["fc.ADD"], theirs["fc.ADD"][:1], atol=1e-4)
