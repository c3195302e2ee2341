"""The graph executor: order, feeds, constants, buffer freeing, every backend."""

from __future__ import annotations

import numpy as np
import pytest

from mge.backends import available_backends
from mge.graph import Graph
from mge.ops import Elemwise, TypeCvt
from mge.runtime.executor import Executor


def _graph() -> Graph:
    g = Graph()
    a = g.add_input("a", (2, 3), "float32")
    b = g.add_input("b", (3,), "float32")
    (s,) = g.add_op(Elemwise(mode="ADD"), [a, b])
    (r,) = g.add_op(Elemwise(mode="RELU"), [s])
    (h,) = g.add_op(TypeCvt(dtype="float16"), [r])
    c = g.add_const(np.float16(2.0))
    (y,) = g.add_op(Elemwise(mode="MUL"), [h, c])
    g.outputs = [y, r]
    return g


@pytest.mark.parametrize("backend", available_backends())
def test_runs_like_numpy(backend: str) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    y, r = Executor(_graph(), backend).run(a, b=b)
    np.testing.assert_allclose(r, np.maximum(a + b, 0), rtol=1e-6)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y, (np.maximum(a + b, 0) * 2).astype(np.float16), rtol=1e-3)


def test_frees_dead_buffers() -> None:
    ex = Executor(_graph())
    freed = {vid for step in ex._free_after for vid in step}
    names = {v.id: v for v in ex.graph.vars()}
    assert ex.graph.outputs[1].id not in freed  # outputs are kept
    assert {names[i].owner.type for i in freed} >= {"Host2DeviceCopy", "TypeCvt"}


def test_feed_errors_name_the_input() -> None:
    ex = Executor(_graph())
    a, b = np.zeros((2, 3), np.float32), np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"input 'b': expected shape \(3,\), got \(4,\)"):
        ex.run(a, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="input 'a': expected dtype float32, got int32"):
        ex.run(a.astype(np.int32), b)
    with pytest.raises(TypeError, match=r"expects inputs \['a', 'b'\]"):
        ex.run(a)
    np.testing.assert_array_equal(ex.run(a.astype(np.float64), b)[1], 0)
