"""The ``onnxruntime`` plan backend: one session per plan, threads, automatic choice,
float16, shape changes, the fallback for graphs without an ONNX form, and mge.lite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from mge.graph.ir import Graph
from mge.lite import LiteConfig, LiteNetwork
from mge.ops import Elemwise
from mge.ops.utility import AssertEqual
from mge.runtime.executor import Executor
from mge.runtime.plan import (
    Plan,
    PlanCache,
    PlanOptions,
    available_plan_backends,
    plan_backend_class,
)
from mge.serialization.mge_graph import load_graph

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "megengine"


def _model(name: str = "resnet18_w4_fuse") -> tuple[Graph, list[np.ndarray]]:
    graph = load_graph(str(FIXTURES / f"{name}.mge")).graph
    rng = np.random.default_rng(0)
    feeds = [rng.integers(0, 256, v.shape).astype(v.dtype) if v.dtype == np.uint8
             else rng.standard_normal(v.shape).astype(v.dtype) for v in graph.inputs]
    return graph, feeds


@pytest.mark.parametrize("name", ["resnet18_w4_fuse", "shufflenetv2_small", "preprocess"])
def test_plan_matches_the_executor(name: str) -> None:
    graph, feeds = _model(name)
    cache = PlanCache(graph, PlanOptions(backend="onnxruntime", threads=1))
    plan = cache.plan()
    assert plan.steps == [] and plan._runner is not None  # one session, no ops bound
    for got, want in zip(plan.run_feeds(feeds), Executor(graph).run(*feeds), strict=True):
        assert got.dtype == want.dtype and got.flags.c_contiguous
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_weights_reach_the_session_outside_the_model_bytes() -> None:
    from mge.runtime.ort_plan import detach_weights, export_for_plan

    graph, feeds = _model()
    graph = PlanCache(graph, PlanOptions(backend="onnxruntime")).graph
    model = export_for_plan(graph, None)
    size = model.ByteSize()
    names, values = detach_weights(model)
    assert names and len(names) == len(values)
    assert model.ByteSize() < size // 10  # the weights' bytes are out of the model
    assert all(len(i.raw_data) <= 1024 for i in model.graph.initializer)
    plan = Plan(graph, PlanOptions(backend="onnxruntime", threads=1))
    want = Plan(graph, PlanOptions(backend="numpy")).run_feeds(feeds)
    for got, ref in zip(plan.run_feeds(feeds), want, strict=True):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_are_honoured(threads: int) -> None:
    graph, _ = _model()
    plan = Plan(graph, PlanOptions(backend="onnxruntime", threads=threads))
    options = plan._runner.session.get_session_options()
    assert options.intra_op_num_threads == threads


def test_automatic_choice_considers_it() -> None:
    names = available_plan_backends()
    assert "onnxruntime" in names
    assert plan_backend_class(PlanOptions()).name == names[0]
    reason = plan_backend_class(PlanOptions(backend="onnxruntime")).unavailable(
        PlanOptions(backend="onnxruntime", compute_dtype="bfloat16"))
    assert "bfloat16" in reason
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(RuntimeError, match="CUDA provider"):
            plan_backend_class(PlanOptions(backend="onnxruntime", device="gpu0"))


def test_float16_compute() -> None:
    graph, feeds = _model()
    plan = Plan(graph, PlanOptions(backend="onnxruntime", compute_dtype="float16"))
    (got,) = plan.run_feeds(feeds)
    (want,) = Executor(graph).run(*feeds)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-2 * np.abs(want).max())


def test_new_input_shapes_get_their_own_session() -> None:
    graph, (x,) = _model("shufflenetv2_small")
    cache = PlanCache(graph, PlanOptions(backend="onnxruntime"))
    name = graph.inputs[0].name
    batch = np.concatenate([x, x[:, :, ::-1], -x])
    (got,) = cache.plan({name: batch.shape}).run_feeds([batch])
    (one,) = cache.plan().run_feeds([x])
    np.testing.assert_allclose(got[:1], one, atol=1e-5)


def test_graph_without_onnx_form_falls_back() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    g.outputs = g.add_op(AssertEqual(maxerr=1.0), [y, y])
    with pytest.warns(UserWarning, match="cannot export the graph to ONNX"):
        plan = Plan(g, PlanOptions(backend="onnxruntime"))
    assert plan._runner is None and plan.steps
    v = np.array([[-1, 2, 3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(plan.run(x=v)[0], np.maximum(v, 0))


def test_lite_network_on_onnxruntime() -> None:
    graph, (x,) = _model()
    outputs = []
    for backend in ("onnxruntime", "numpy"):
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
