"""Helpers shared by the tests of the whole-graph plan backends (onnxruntime, openvino):
the fixture models with random feeds, the op-by-op fallback for a graph without an ONNX
form, and a Lite network on the backend against the numpy plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mge.graph.ir import Graph
from mge.ops import Elemwise
from mge.ops.utility import AssertEqual
from mge.runtime.plan import Plan, PlanOptions
from mge.serialization.mge_graph import load_graph

from ..lite.running import lite_outputs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "megengine"


def fixture_model(name: str = "resnet18_w4_fuse") -> tuple[Graph, list[np.ndarray]]:
    """The graph of ``tests/fixtures/megengine/<name>.mge`` and seeded feeds for it."""
    graph = load_graph(str(FIXTURES / f"{name}.mge")).graph
    rng = np.random.default_rng(0)
    feeds = [rng.integers(0, 256, v.shape).astype(v.dtype) if v.dtype == np.uint8
             else rng.standard_normal(v.shape).astype(v.dtype) for v in graph.inputs]
    return graph, feeds


def check_fallback_without_onnx_form(backend: str) -> None:
    """A graph with an op ONNX cannot express (AssertEqual) runs op by op, with a warning."""
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    g.outputs = g.add_op(AssertEqual(maxerr=1.0), [y, y])
    with pytest.warns(UserWarning, match=f"{backend!r} cannot export the graph to ONNX"):
        plan = Plan(g, PlanOptions(backend=backend))
    assert plan._runner is None and plan.steps
    v = np.array([[-1, 2, 3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(plan.run(x=v)[0], np.maximum(v, 0))


def check_lite_network_matches_numpy(backend: str) -> None:
    """A LiteNetwork on ``backend`` gives the numpy plan's output for ResNet-18."""
    graph, (x,) = fixture_model()
    path, feeds = FIXTURES / "resnet18_w4_fuse.mge", {graph.inputs[0].name: x}
    (got,) = lite_outputs(path, feeds, backend, threads=2).values()
    (want,) = lite_outputs(path, feeds, "numpy", threads=2).values()
    np.testing.assert_allclose(got, want, atol=1e-4)
