"""``Network`` edits models with MegEngine's dynamic shape vars (``cond_take`` outputs):
they load and dump with no shape, only elementwise ops may read them, and everything else
is refused (MegEngine's test_dump_cond_take and test_network_node's test_condtake)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.jit import trace
from mge.serialization.mge_graph import ValueDependentModel
from mge.utils.comp_graph_tools import GraphInference
from mge.utils.network import Network
from tests.utils.test_staged_files import ARRAYS


def _dump(fn, *args) -> io.BytesIO:
    fn(*args)
    file = io.BytesIO()
    fn.dump(file, arg_names=["a"], optimize_for_inference=False)
    file.seek(0)
    return file


def _check(file: io.BytesIO, fn) -> None:
    graph = GraphInference(file)
    for data in ([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [5.0, -1.0, 9.0]):
        x = np.array(data, "float32")
        got = list(graph.run(x).values())
        for g, want in zip(got, fn(x), strict=True):
            np.testing.assert_array_equal(g, want)


def test_a_loaded_cond_take_is_edited_and_dumped() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def fwd(a):
        return F.cond_take(a > 1, a)

    net = Network.load(_dump(fwd, mge.tensor([1.0, 2.0, 3.0])))
    assert all(v.shape is None for v in net.output_vars)  # no bound shows
    var_a = net.input_vars[0]
    val, idx = F.cond_take(var_a > 2, var_a)
    assert val.shape is None and idx.shape is None
    doubled = val * 2  # elementwise with a single value: still dynamic
    assert doubled.shape is None
    net.remove_output(*net.output_vars)
    net.add_output(doubled, idx)
    out = io.BytesIO()
    net.dump(out)
    out.seek(0)
    _check(out, lambda x: (x[x > 2] * 2, np.flatnonzero(x > 2)))


def test_a_megengine_cond_take_dump_is_edited() -> None:
    net = Network.load(io.BytesIO(ARRAYS["cond_take__file"].tobytes()))
    net.add_output(*[v + 1 if v.dtype == np.float32 else v for v in net.output_vars])
    out = io.BytesIO()
    net.dump(out)
    out.seek(0)
    x = np.arange(-5, 30, dtype=np.float32).reshape(5, 7)
    values, where, plus_one = GraphInference(out).run(x).values()
    np.testing.assert_array_equal(values, x[x > 0])
    np.testing.assert_array_equal(where, np.flatnonzero(x > 0))
    np.testing.assert_array_equal(plus_one, x[x > 0] + 1)


def test_no_bound_reaches_a_number() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def fwd(a):
        return F.cond_take(a > 1, a)

    net = Network.load(_dump(fwd, mge.tensor([1.0, 2.0, 3.0])))
    val = net.output_vars[0]
    for build in (lambda: val.sum(), lambda: val.reshape(-1, 1),
                  lambda: val + mge.tensor([1.0, 2.0, 3.0])):
        with pytest.raises(ValueError, match="depends on input values.*elementwise"):
            build()

    @trace(symbolic=True, capture_as_const=True)
    def summed(a):
        return F.cond_take(a > 1, a)[0].sum() * 2

    with pytest.raises(ValueDependentModel, match="Network cannot edit.*elementwise"):
        Network.load(_dump(summed, mge.tensor([1.0, 2.0, 3.0])))


def test_a_constant_mask_keeps_its_count() -> None:
    net = Network()
    x = net.make_const(np.array([1.0, 5.0, 7.0], np.float32))
    val, idx = F.cond_take(x > 2, x)
    assert val.shape == (2,) and idx.numpy().tolist() == [1, 2]
