"""MegEngine 1.13 behaviours of trace_module, insert_exprs, flatten and pickle loaders."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
import mge.quantization as Q
import mge.traced_module.serialization as S
from mge import Tensor
from mge.traced_module import TracedModule, trace_module
from mge.traced_module.expr import CallMethod, Constant
from mge.traced_module.node import TensorNode
from mge.traced_module.recording import is_builtin


class Block(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv0 = M.Conv2d(3, 3, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv0(x))


class Top(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block0 = Block()
        self.block1 = Block()

    def forward(self, x: Tensor) -> Tensor:
        return self.block1(self.block0(x))


class Neg(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ids = {"a": M.Identity()}

    def forward(self, x: Tensor) -> Tensor:
        return -self.ids["a"](x)


def _x() -> Tensor:
    return Tensor(np.random.default_rng(0).random((1, 3, 4, 4)).astype("float32"))


def test_flatten_names_as_megengine() -> None:
    names = [n.name for n in trace_module(Top(), _x()).flatten().graph.nodes()]
    assert names == ["self", "x", "block0_conv0", "block0_conv0_out", "block0_out",
                     "block1_conv0", "block1_conv0_out", "block1_out"]


def test_inserted_user_module_is_traced() -> None:
    x = _x()
    traced = trace_module(Top(), x)
    expect = traced(x).numpy()
    graph = traced.graph
    traced.neg = Neg()
    out = graph.outputs[0]
    with graph.insert_exprs():
        neg_out = graph.inputs[0].neg(out)
    graph.replace_node({out: neg_out})
    graph.compile()
    assert isinstance(traced.neg, TracedModule)
    np.testing.assert_allclose(traced(x).numpy(), -expect, atol=1e-6)
    assert all(n.value is None for n in graph.nodes() if isinstance(n, TensorNode))


def test_names_and_tensor_construction_in_forward() -> None:
    class Net(M.Module):
        def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
            y = x + 1
            y.name = "plus_one"
            z = y * 2
            z.name = "plus_one"  # taken: made unique
            return z, Tensor([1, x, 1]) + 1

    traced = trace_module(Net(), Tensor(1))
    assert {"plus_one", "plus_one_1"} <= set(traced.graph._namespace.used_names)
    buf = io.BytesIO()
    mge.save(traced, buf)
    buf.seek(0)
    a, b = mge.load(buf)(Tensor(5))  # the load check admits the recorded Tensor(...)
    assert a.numpy() == 12
    np.testing.assert_array_equal(b.numpy(), [2, 6, 2])


def test_module_containers_and_argspec() -> None:
    class Net(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = [M.ReLU(), {"b": M.Identity()}]

        def forward(self, x: Tensor) -> Tensor:
            return self.layers[1]["b"](self.layers[0](x))

    traced = trace_module(Net(), _x())
    assert isinstance(traced.layers, TracedModule)
    assert isinstance(traced.layers.__dict__["0"], M.ReLU)
    assert isinstance(traced.layers.__dict__["1"].b, M.Identity)
    buf = io.BytesIO()
    mge.save(traced, buf)
    buf.seek(0)
    loaded = mge.load(buf)
    assert loaded.argspec.args == ["self", "x"] and loaded.layers.argspec is None
    np.testing.assert_allclose(loaded(_x()).numpy(), np.maximum(_x().numpy(), 0))


def test_observer_subclasses_are_leaves() -> None:
    class MyObserver(Q.MinMaxObserver):
        pass

    assert is_builtin(MyObserver())


def test_tensor_method_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    class Net(M.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x + 1

    traced = trace_module(Net(), Tensor(np.ones(4, "float32")))
    monkeypatch.setattr(S, "TENSORMETHOD_LOADER", {})

    @S.register_tensor_method_loader("__add__")
    def add_two(expr: CallMethod) -> None:  # x + 1 -> x + const(2)
        const = Constant(Tensor(np.float32(2)), "two").outputs[0]
        expr.set_args_kwargs(expr.args[0], const)

    with pytest.raises(ValueError, match="already registered"):
        S.register_tensor_method_loader("__add__")(add_two)
    loaded = pickle.loads(pickle.dumps(traced))
    assert isinstance(loaded.graph._exprs[0], Constant) and len(loaded.graph._exprs) == 2
    np.testing.assert_array_equal(loaded(Tensor(np.ones(4, "float32"))).numpy(), [3] * 4)
    assert loaded.graph._total_ids[1] == 2


def test_convert_kwargs_to_args() -> None:
    from mge.traced_module.utils import _convert_kwargs_to_args

    def func(a, b, c=4, *, d, e=3):  # noqa: ANN001, ANN202
        pass

    assert _convert_kwargs_to_args(func, (1,), {"b": 1, "d": 6}) == ((1, 1, 4), {"d": 6, "e": 3})
    assert _convert_kwargs_to_args(func, (1,), {"d": 6}, is_bounded=True) == ((1, 4),
                                                                              {"d": 6, "e": 3})
    with pytest.raises(TypeError, match="multiple values for argument a"):
        _convert_kwargs_to_args(func, (1,), {"a": 2, "d": 6})
    with pytest.raises(TypeError, match="missing required keyword-only argument: d"):
        _convert_kwargs_to_args(func, (1, 2), {})


def test_qualnames_and_ids_as_megengine() -> None:
    class Inner(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv0 = M.Conv2d(3, 3, 1)

        def forward(self, x: Tensor) -> Tensor:
            return F.relu(self.conv0(x)) + 1

    class Outer(M.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block0 = Inner()

        def forward(self, x: Tensor) -> Tensor:
            return self.block0(x)

    traced = trace_module(Outer(), _x())
    assert [(n.name, n.qualname) for n in traced.graph.nodes()] == [
        ("self", "Outer"), ("x", "Outer.[x]"), ("block0", "Outer.block0"),
        ("block0_out", "Outer.block0.[out]"), ("self", "Outer.block0"),
        ("x", "Outer.block0.[x]"), ("conv0", "Outer.block0.conv0"),
        ("conv0_out", "Outer.block0.conv0.[out]"), ("relu_out", "Outer.block0.[func_relu]"),
        ("add_out", "Outer.block0.[method_add]")]
    graph = traced.graph
    for traced_module in (traced, traced.flatten()):
        ids = [n._id for n in traced_module.graph.nodes()]
        assert sorted(ids) == list(range(traced_module.graph._total_ids[0]))
    relu = graph.get_function_by_type(F.relu).as_unique()
    with relu.top_graph.insert_exprs():
        F.neg(relu.outputs[0])
    assert graph._total_ids == (11, 7)


class _Buffers(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = Block()
        self.scale = mge.Parameter(np.full(1, 2.0, dtype=np.float32))
        self.unused_param = mge.Parameter(np.ones(1, dtype=np.float32))
        self.unused_buff = Tensor(np.ones(1, dtype=np.float32))
        self.offset = Tensor(np.full(1, 0.5, dtype=np.float32))

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(x) * self.scale + self.inner.conv0.bias.sum() * self.offset


def test_tensor_attributes_forward_never_reads_are_left_out() -> None:
    # MegEngine's builder copies only the attributes that forward read
    m = _Buffers()
    x = Tensor(np.random.rand(1, 3, 4, 4).astype("float32"))
    tm = trace_module(m, x)
    assert "unused_param" not in tm.__dict__ and "unused_buff" not in tm.__dict__
    assert tm.scale is m.scale and tm.offset is m.offset
    assert [n for n, _ in tm.named_parameters()] == [
        "inner.conv0.bias", "inner.conv0.weight", "scale"]
    np.testing.assert_allclose(tm(x).numpy(), m(x).numpy(), rtol=1e-6)
