"""The ONNX form a whole-graph plan hands its engine: as compact as a hand-written ONNX
model (a residual add and its per-channel bias: one ``Conv`` with bias and one ``Add``;
``RELU6``: ``Clip``; hard-swish: one ``HardSwish``), with the executor's numbers; and the
plan cache's fast path for the shapes of the last call."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from mge.graph import Graph
from mge.ops import Elemwise
from mge.ops.conv import ConvBiasForward, ConvolutionForward
from mge.runtime.executor import Executor
from mge.runtime.plan import PlanCache, PlanOptions
from mge.runtime.plan_onnx import ONNX_PASSES, PLAN_OPSET, export_for_plan

F32 = np.dtype("float32")


def _x(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(F32)


def _residual_block() -> Graph:
    """``RELU6(conv(x) + b)``, then ``conv(.) + residual`` with its bias added after (the
    order an ONNX import of ``Conv(b) + residual`` takes), then hard-swish."""
    g = Graph()
    x = g.add_input("x", (1, 4, 6, 6), "float32")
    w = g.add_const(_x((4, 4, 3, 3), 1) * 0.3)
    (c,) = g.add_op(ConvBiasForward(pad_h=1, pad_w=1), [x, w, g.add_const(_x((1, 4, 1, 1), 2))])
    (y,) = g.add_op(Elemwise(mode="RELU6"), [c])
    (c2,) = g.add_op(ConvolutionForward(pad_h=1, pad_w=1), [y, w])
    (s,) = g.add_op(Elemwise(mode="ADD"), [c2, x])
    (t,) = g.add_op(Elemwise(mode="ADD"), [s, g.add_const(_x((1, 4, 1, 1), 3))])
    (z,) = g.add_op(Elemwise(mode="H_SWISH"), [t])
    g.outputs = [z]
    return g


def test_residual_block_is_exported_as_compactly_as_by_hand() -> None:
    graph = _residual_block()
    cache = PlanCache(graph, PlanOptions(backend="numpy", optimize=False))
    optimized = cache.graph.copy()
    from mge.graph.passes import run_passes

    run_passes(optimized, list(ONNX_PASSES))
    model = export_for_plan(optimized, None)
    assert model.opset_import[0].version == PLAN_OPSET
    counts = collections.Counter(n.op_type for n in model.graph.node)
    assert counts == {"Conv": 2, "Clip": 1, "Add": 1, "HardSwish": 1}, counts
    conv_inputs = [len(n.input) for n in model.graph.node if n.op_type == "Conv"]
    assert conv_inputs == [3, 3]  # each with its bias


def test_onnxruntime_plan_matches_the_executor_on_the_residual_block() -> None:
    pytest.importorskip("onnxruntime")
    graph = _residual_block()
    xv = _x((1, 4, 6, 6), 4)
    (want,) = Executor(graph, "numpy").run(xv)
    (got,) = PlanCache(graph, PlanOptions(backend="onnxruntime", threads=1)).plan().run(xv)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_plan_cache_returns_the_last_plan_for_the_same_shapes() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    g.outputs = g.add_op(Elemwise(mode="NEGATE"), [x])
    cache = PlanCache(g, PlanOptions(backend="numpy"))
    first = cache.plan({"x": (2, 3)})
    assert cache.plan({"x": (2, 3)}) is first
    other = cache.plan({"x": (5, 3)})
    assert other is not first and other.inputs[0].shape == (5, 3)
    assert cache.plan({"x": (2, 3)}) is first  # still cached, now the last again
    shapes = {"x": (5, 3)}
    assert cache.plan(shapes) is other
    shapes["x"] = (2, 3)  # the caller's dict changing does not fool the fast path
    assert cache.plan({"x": (5, 3)}) is other
    np.testing.assert_array_equal(other.run(np.ones((5, 3), F32))[0], -np.ones((5, 3)))
