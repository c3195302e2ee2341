"""TracedModule graphs shaped as MegEngine 1.13 shapes them: node names and lookups, expr
lists without the ``Input`` exprs (MegEngine's counts), users listed once per use."""

from __future__ import annotations

import pickle
from collections import namedtuple

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.traced_module import (
    checker,
    enable_expr_checker,
    register_supported_type,
    trace_module,
    wrap,
)
from mge.traced_module.graph import GraphError
from mge.traced_module.recording import TraceError
from mge.traced_module.utils import get_subattr


class Block(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = M.Conv2d(3, 3, 3, 1, padding=1, bias=False)
        self.bn1 = M.BatchNorm2d(3)

    def forward(self, x):  # noqa: ANN001, ANN201
        return F.relu(self.bn1(self.conv1(x))) + 1


class Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block0, self.block1 = Block(), Block()

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.block1(self.block0(x))


class Twice(M.Module):
    def forward(self, a):  # noqa: ANN001, ANN201
        return F.concat([a, a])


def _x() -> np.ndarray:
    return F.ones((1, 3, 3, 3))


def test_node_names_and_lookup() -> None:
    tm = trace_module(Block(), _x())
    graph = tm.graph
    conv = graph.get_node_by_name("Block_conv1").as_unique()
    assert conv.name == "conv1" and str(conv) == "conv1" and repr(conv) == "%conv1"
    assert f"{conv}" == "%conv1"
    graph.name = "Top"
    assert graph.get_node_by_name("Top_conv1").as_unique() is conv


def test_renaming_to_a_used_name_is_refused_as_megengine_does() -> None:
    tm = trace_module(Net(), _x())
    out = tm.graph.outputs[0]
    with pytest.raises(AssertionError, match="already used"):
        out.name = "block0_out"
    with pytest.raises(GraphError):
        out.name = "block0_out"
    out.name = "output"
    assert str(tm.graph.outputs[0]) == "output"


def test_expr_counts_exclude_inputs() -> None:
    x = _x()
    tm = trace_module(Net(), x)
    want = tm(x).numpy()
    flat = tm.flatten()
    # MegEngine 1.13: 2 blocks x (2 getattr + 2 calls + relu + add) = 12 exprs
    assert len(flat.graph._exprs) == 12
    np.testing.assert_array_equal(flat(x).numpy(), want)
    relu = tm.block0.graph.get_function_by_type(F.relu).as_unique()
    tm.block0.graph.replace_node({relu.outputs[0]: relu.inputs[0]})
    tm.block0.graph.compile()
    g = tm.block0.graph
    g.replace_node({g.outputs[0]: g.inputs[1]})
    g.compile()
    assert len(g._exprs) == 0
    np.testing.assert_array_equal(tm.block0(x).numpy(), x.numpy())


def test_users_list_an_expr_once_per_use() -> None:
    tm = trace_module(Twice(), _x())
    a = tm.graph.inputs[1]
    (concat,) = tm.graph.get_function_by_type(F.concat).as_list()
    assert a.users == [concat, concat]
    flat = tm.flatten()
    a = flat.graph.inputs[1]
    assert len(a.users) == 2


def test_expr_checker_compares_the_traced_module_with_the_traced_run(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(checker._settings, "expr_checker", False)
    enable_expr_checker()
    assert checker.checking()
    x = _x()
    tm = trace_module(Net(), x)  # a faithful trace passes the check
    with pytest.raises(TraceError, match="output 0 of the traced module differs"):
        checker.check_outputs(tm, tm(x) + 1, (x,), {})
    with pytest.raises(TraceError, match="returns 1 values, the traced run returned 2"):
        checker.check_outputs(tm, (tm(x), tm(x)), (x,), {})


class _Pair:
    def __init__(self, a, b) -> None:  # noqa: ANN001
        self.a, self.b = a, b


class _Scale:
    def __init__(self, k: float) -> None:
        self.k = k


class _PairNet(M.Module):
    def forward(self, pair, scale):  # noqa: ANN001, ANN201
        return (pair.a + pair.b) * scale.k


def test_register_supported_type_containers_and_leaves() -> None:
    register_supported_type(_Pair, lambda p: ([p.a, p.b], "pair"),
                            lambda values, context: _Pair(*values))
    register_supported_type(_Scale)
    a, b = mge.tensor([1.0, 2.0]), mge.tensor([3.0, 4.0])
    tm = trace_module(_PairNet(), _Pair(a, b), _Scale(2.0))
    np.testing.assert_allclose(tm(_Pair(b, b), _Scale(2.0)).numpy(), [12.0, 16.0])
    again = pickle.loads(pickle.dumps(tm))
    np.testing.assert_allclose(again(_Pair(a, a), _Scale(2.0)).numpy(), [4.0, 8.0])


_Meta = namedtuple("_Meta", ["scale", "name"])


class _WithMeta(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.meta = _Meta(2.0, "m")

    def forward(self, x):  # noqa: ANN001, ANN201
        return x * self.meta.scale


def test_namedtuple_attributes_survive_tracing_and_get_subattr() -> None:
    x = _x()
    tm = trace_module(_WithMeta(), x)
    assert tm.meta.scale == 2.0 and tm.meta.name == "m"
    np.testing.assert_allclose(tm(x).numpy(), x.numpy() * 2)
    net = Net()
    traced = trace_module(net, x)
    assert get_subattr(traced, "block0.conv1") is traced.block0.conv1
    assert get_subattr(traced, "") is traced


def _scale(x, k):  # noqa: ANN001, ANN202
    return F.relu(x) * k


_scale = wrap(_scale)


class _UsesWrapped(M.Module):
    def forward(self, x):  # noqa: ANN001, ANN201
        return _scale(x, 3.0) + 1


def test_wrap_records_a_function_as_one_call() -> None:
    x = mge.tensor([-1.0, 2.0])
    tm = trace_module(_UsesWrapped(), x)
    calls = tm.graph.get_function_by_type(_scale).as_list()
    assert len(calls) == 1 and tm.graph.get_function_by_type(F.relu).as_count() == 0
    np.testing.assert_allclose(tm(mge.tensor([4.0, -2.0])).numpy(), [13.0, 1.0])
