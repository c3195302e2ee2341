"""The ``openvino`` plan backend: one compiled model per plan, precision from the compute
dtype, threads, shape changes, the fallback for graphs without an ONNX form, mge.lite,
a hard sigmoid's scale kept as the graph gives it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino plan backend needs openvino "
                    "(pip install 'mge[openvino]')")

from mge.graph.ir import Graph  # noqa: E402
from mge.ops import Elemwise  # noqa: E402
from mge.runtime import plan_openvino  # noqa: E402
from mge.runtime.plan import (  # noqa: E402
    Plan,
    PlanCache,
    PlanOptions,
    available_plan_backends,
    plan_backend_class,
)
from mge.runtime.plan_onnx import export_for_plan  # noqa: E402
from mge.runtime.plan_openvino import cpu_capabilities  # noqa: E402

from .whole_graph import (  # noqa: E402
    check_fallback_without_onnx_form,
    check_lite_network_matches_numpy,
    fixture_model,
)


def _numpy(graph: Graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
    return PlanCache(graph, PlanOptions(backend="numpy")).plan().run_feeds(feeds)


@pytest.mark.parametrize("name", ["resnet18_w4_fuse", "shufflenetv2_small"])
def test_float32_matches_the_numpy_plan(name: str) -> None:
    graph, feeds = fixture_model(name)
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
    graph, feeds = fixture_model()
    plan = PlanCache(graph, options).plan()
    hint = plan._runner.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    assert hint == ("bf16" if dtype == "bfloat16" else "f16")
    (got,), (want,) = plan.run_feeds(feeds), _numpy(graph, feeds)
    assert got.dtype == np.float32  # outputs keep the graph's type
    np.testing.assert_allclose(got, want, atol=5e-2 * np.abs(want).max())


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_are_honoured(threads: int) -> None:
    graph, _ = fixture_model()
    plan = Plan(graph, PlanOptions(backend="openvino", threads=threads))
    assert plan._runner.compiled.get_property("INFERENCE_NUM_THREADS") == threads


def test_new_input_shapes_get_their_own_compiledfixture_model() -> None:
    graph, (x,) = fixture_model("shufflenetv2_small")
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
    check_fallback_without_onnx_form("openvino")


def test_graph_outside_the_compiled_ops_falls_back() -> None:
    graph, feeds = fixture_model("preprocess")  # WarpPerspective: GatherND, Where, Mod...
    with pytest.warns(UserWarning, match="'openvino' does not compile ONNX ops"):
        plan = PlanCache(graph, PlanOptions(backend="openvino")).plan()
    assert plan._runner is None and plan.steps
    for got, want in zip(plan.run_feeds(feeds), _numpy(graph, feeds), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4 * max(1, np.abs(want).max()))


def test_lite_network_on_openvino() -> None:
    check_lite_network_matches_numpy("openvino")


def test_weights_reach_openvino_through_a_weights_file_removed_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import tempfile

    from mge.runtime import plan_openvino

    made: list[str] = []  # this plan's folders (other processes make their own meanwhile)
    original = tempfile.TemporaryDirectory

    def recording(*args: object, **kwargs: object) -> tempfile.TemporaryDirectory:
        folder = original(*args, **kwargs)  # type: ignore[call-overload]
        made.append(folder.name)
        return folder

    monkeypatch.setattr(plan_openvino.tempfile, "TemporaryDirectory", recording)
    graph, feeds = fixture_model("resnet18_w4_fuse")
    plan = PlanCache(graph, PlanOptions(backend="openvino", threads=1)).plan()
    assert plan.backend.weight_arrays  # exported as arrays, not inside the model bytes
    assert made and not any(os.path.exists(f) for f in made)  # the folder is gone
    for got, want in zip(plan.run_feeds(feeds), _numpy(graph, feeds), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max(), rtol=1e-4)


def _hard_sigmoid_gate(scale: float) -> Graph:
    """``x * (RELU6(x + 3) * scale)``: a squeeze-excitation gate as TFLite writes it."""
    g = Graph()
    x = g.add_input("x", (4, 256), "float32")
    (shifted,) = g.add_op(Elemwise(mode="ADD"), [x, g.add_const(np.float32([3.0]))])
    (clipped,) = g.add_op(Elemwise(mode="RELU6"), [shifted])
    (gate,) = g.add_op(Elemwise(mode="MUL"), [g.add_const(np.float32([scale])), clipped])
    g.outputs = g.add_op(Elemwise(mode="MUL"), [x, gate])
    return g


@pytest.mark.parametrize("rewrite", [True, False])
def test_a_hard_sigmoid_scale_near_a_sixth_is_kept(rewrite: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    graph = _hard_sigmoid_gate(0.16667)  # 2e-5 above 1/6
    x = np.linspace(-4, 4, 4 * 256, dtype=np.float32).reshape(4, 256)
    made = []
    keep = plan_openvino.keep_hard_sigmoid_scale
    monkeypatch.setattr(plan_openvino, "keep_hard_sigmoid_scale",
                        lambda model: made.append(keep(model) if rewrite else 0))
    (got,) = PlanCache(graph, PlanOptions(backend="openvino", threads=1)).plan().run_feeds([x])
    (want,) = _numpy(graph, [x])
    deviation = float(np.abs(got - want).max() / np.abs(want).max())
    if rewrite:  # rewritten once; float32 rounding is all that is left
        assert made == [1] and deviation < 1e-6
    else:  # OpenVINO's HSigmoid fusion divides by 6: the graph's scale is lost
        assert deviation > 1e-5


def test_an_exact_sixth_is_left_to_openvino() -> None:
    model = export_for_plan(_hard_sigmoid_gate(1 / 6), None)
    assert plan_openvino.keep_hard_sigmoid_scale(model) == 0
    model = export_for_plan(_hard_sigmoid_gate(0.16667), None)
    assert plan_openvino.keep_hard_sigmoid_scale(model) == 1
    assert [n.op_type for n in model.graph.node][-4:] == ["Mul", "Add", "Clip", "Mul"]
