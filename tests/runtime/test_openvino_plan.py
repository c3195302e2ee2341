"""The ``openvino`` plan backend: one compiled model per plan, precision from the compute
dtype, threads, shape changes, the fallback for graphs without an ONNX form, mge.lite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino plan backend needs openvino "
                    "(pip install 'mge[openvino]')")

from mge.graph.ir import Graph  # noqa: E402
from mge.lite import LiteConfig, LiteNetwork  # noqa: E402
from mge.ops import Elemwise  # noqa: E402
from mge.ops.utility import AssertEqual  # noqa: E402
from mge.runtime.plan import (  # noqa: E402
    Plan,
    PlanCache,
    PlanOptions,
    available_plan_backends,
    plan_backend_class,
)
from mge.runtime.plan_openvino import cpu_capabilities  # noqa: E402
from mge.serialization.mge_graph import load_graph  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "megengine"


def _model(name: str = "resnet18_w4_fuse") -> tuple[Graph, list[np.ndarray]]:
    graph = load_graph(str(FIXTURES / f"{name}.mge")).graph
    rng = np.random.default_rng(0)
    feeds = [rng.integers(0, 256, v.shape).astype(v.dtype) if v.dtype == np.uint8
             else rng.standard_normal(v.shape).astype(v.dtype) for v in graph.inputs]
    return graph, feeds


def _numpy(graph: Graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
    return PlanCache(graph, PlanOptions(backend="numpy")).plan().run_feeds(feeds)


@pytest.mark.parametrize("name", ["resnet18_w4_fuse", "shufflenetv2_small"])
def test_float32_matches_the_numpy_plan(name: str) -> None:
    graph, feeds = _model(name)
    plan = PlanCache(graph, PlanOptions(backend="openvino", threads=1)).plan()
    assert plan.steps == [] and plan._runner is not None  # one compiled model
    assert plan._runner.compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"
    for got, want in zip(plan.run_feeds(feeds), _numpy(graph, feeds), strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-4 * max(1, np.abs(want).max()),
                                   rtol=1e-4)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_from_the_compute_dtype(dtype: str) -> None:
    options = PlanOptions(backend="openvino", compute_dtype=dtype)
    needed = "BF16" if dtype == "bfloat16" else "FP16"
    if needed not in cpu_capabilities():
        with pytest.raises(RuntimeError, match="no .* inference"):
            plan_backend_class(options)
        return
    graph, feeds = _model()
    plan = PlanCache(graph, options).plan()
    hint = plan._runner.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    assert hint == ("bf16" if dtype == "bfloat16" else "f16")
    (got,), (want,) = plan.run_feeds(feeds), _numpy(graph, feeds)
    assert got.dtype == np.float32  # outputs keep the graph's type
    np.testing.assert_allclose(got, want, atol=5e-2 * np.abs(want).max())


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_are_honoured(threads: int) -> None:
    graph, _ = _model()
    plan = Plan(graph, PlanOptions(backend="openvino", threads=threads))
    assert plan._runner.compiled.get_property("INFERENCE_NUM_THREADS") == threads


def test_new_input_shapes_get_their_own_compiled_model() -> None:
    graph, (x,) = _model("shufflenetv2_small")
    cache = PlanCache(graph, PlanOptions(backend="openvino"))
    batch = np.concatenate([x, x[:, :, ::-1], -x])
    big = cache.plan({graph.inputs[0].name: batch.shape})
    (got,) = big.run_feeds([batch])
    one = cache.plan()
    assert one._runner.compiled is not big._runner.compiled
    np.testing.assert_allclose(got[:1], one.run_feeds([x])[0], atol=1e-5)
    want = PlanCache(graph, PlanOptions(backend="numpy")).plan(
        {graph.inputs[0].name: batch.shape}).run_feeds([batch])[0]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_opt_in_only() -> None:
    assert "openvino" not in available_plan_backends()
    assert plan_backend_class(PlanOptions()).name != "openvino"
    assert "openvino" in available_plan_backends(PlanOptions(backend="openvino"))


def test_unknown_compute_dtype_is_refused() -> None:
    with pytest.raises(RuntimeError, match="openvino.*int8"):
        plan_backend_class(PlanOptions(backend="openvino", compute_dtype="int8"))
    with pytest.raises(RuntimeError, match="runs on cpu only"):
        plan_backend_class(PlanOptions(backend="openvino", device="gpu0"))


def test_graph_without_onnx_form_falls_back() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    g.outputs = g.add_op(AssertEqual(maxerr=1.0), [y, y])
    with pytest.warns(UserWarning, match="'openvino' cannot export the graph to ONNX"):
        plan = Plan(g, PlanOptions(backend="openvino"))
    assert plan._runner is None and plan.steps
    v = np.array([[-1, 2, 3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(plan.run(x=v)[0], np.maximum(v, 0))


def test_graph_outside_the_compiled_ops_falls_back() -> None:
    graph, feeds = _model("preprocess")  # WarpPerspective: GatherND, Where, Mod...
    with pytest.warns(UserWarning, match="'openvino' does not compile ONNX ops"):
        plan = PlanCache(graph, PlanOptions(backend="openvino")).plan()
    assert plan._runner is None and plan.steps
    for got, want in zip(plan.run_feeds(feeds), _numpy(graph, feeds), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4 * max(1, np.abs(want).max()))


def test_lite_network_on_openvino() -> None:
    graph, (x,) = _model()
    outputs = []
    for backend in ("openvino", "numpy"):
        config = LiteConfig()
        config.plan_backend = backend
        net = LiteNetwork(config)
        net.threads_number = 2
        net.load(str(FIXTURES / "resnet18_w4_fuse.mge"))
        net.get_io_tensor(graph.inputs[0].name).set_data_by_copy(x)
        net.forward()
        net.wait()
        outputs.append(net.get_io_tensor(net.get_all_output_name()[0]).to_numpy())
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-4)
