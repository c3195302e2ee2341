"""The ``onnxruntime`` plan backend: one session per plan, threads, automatic choice,
float16, shape changes, the fallback for graphs without an ONNX form, and mge.lite."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

from mge.runtime.executor import Executor
from mge.runtime.plan import (
    Plan,
    PlanCache,
    PlanOptions,
    available_plan_backends,
    plan_backend_class,
)

from .whole_graph import (
    check_fallback_without_onnx_form,
    check_lite_network_matches_numpy,
    fixture_model,
)


@pytest.mark.parametrize("name", ["resnet18_w4_fuse", "shufflenetv2_small", "preprocess"])
def test_plan_matches_the_executor(name: str) -> None:
    graph, feeds = fixture_model(name)
    cache = PlanCache(graph, PlanOptions(backend="onnxruntime", threads=1))
    plan = cache.plan()
    assert plan.steps == [] and plan._runner is not None  # one session, no ops bound
    for got, want in zip(plan.run_feeds(feeds), Executor(graph).run(*feeds), strict=True):
        assert got.dtype == want.dtype and got.flags.c_contiguous
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_weights_reach_the_session_outside_the_model_bytes() -> None:
    from mge.runtime.ort_plan import export_for_plan

    graph, feeds = fixture_model()
    graph = PlanCache(graph, PlanOptions(backend="onnxruntime")).graph
    embedded = export_for_plan(graph, None).ByteSize()
    external: dict[str, np.ndarray] = {}
    model = export_for_plan(graph, None, external)
    assert external and model.ByteSize() < embedded // 10  # the weights are arrays
    assert all(len(i.raw_data) <= 1024 for i in model.graph.initializer)
    declared = {i.name for i in model.graph.initializer if i.data_location == 1}
    assert declared == set(external)
    plan = Plan(graph, PlanOptions(backend="onnxruntime", threads=1))
    assert set(plan.backend.weight_arrays) == declared
    want = Plan(graph, PlanOptions(backend="numpy")).run_feeds(feeds)
    for got, ref in zip(plan.run_feeds(feeds), want, strict=True):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_are_honoured(threads: int) -> None:
    graph, _ = fixture_model()
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
    graph, feeds = fixture_model()
    plan = Plan(graph, PlanOptions(backend="onnxruntime", compute_dtype="float16"))
    (got,) = plan.run_feeds(feeds)
    (want,) = Executor(graph).run(*feeds)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-2 * np.abs(want).max())


def test_new_input_shapes_get_their_own_session() -> None:
    graph, (x,) = fixture_model("shufflenetv2_small")
    cache = PlanCache(graph, PlanOptions(backend="onnxruntime"))
    name = graph.inputs[0].name
    batch = np.concatenate([x, x[:, :, ::-1], -x])
    (got,) = cache.plan({name: batch.shape}).run_feeds([batch])
    (one,) = cache.plan().run_feeds([x])
    np.testing.assert_allclose(got[:1], one, atol=1e-5)


def test_graph_without_onnx_form_falls_back() -> None:
    check_fallback_without_onnx_form("onnxruntime")


def test_lite_network_on_onnxruntime() -> None:
    check_lite_network_matches_numpy("onnxruntime")


def test_builtin_priorities_are_the_classes() -> None:
    from mge.runtime.plan import BUILTIN_PRIORITY, PLAN_BACKENDS

    available_plan_backends()  # imports every installed built-in backend
    for name, cls in PLAN_BACKENDS.items():
        if name in BUILTIN_PRIORITY:
            assert cls.priority == BUILTIN_PRIORITY[name], name


def test_auto_does_not_import_lower_priority_libraries() -> None:
    """``"auto"`` picks onnxruntime without importing torch (seconds of a first load)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from mge.runtime.plan import PlanOptions, plan_backend_class\n"
            "print(plan_backend_class(PlanOptions()).name, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stdout.split() == ["onnxruntime", "False"]


def test_cpu_plans_call_the_native_run_and_match_the_public_one() -> None:
    """On the CPU provider a plan calls the session's native ``run`` (the Python
    wrapper's checks cost microseconds a forward); its results are the public run's."""
    from mge.runtime.ort_plan import direct_run

    graph, feeds = fixture_model()
    plan = Plan(graph, PlanOptions(backend="onnxruntime", threads=1))
    session = plan._runner.session
    cpu, gpu = PlanOptions(threads=1), PlanOptions(device="gpu0")
    assert direct_run(session, cpu) == session._sess.run
    assert direct_run(session, gpu) == session.run  # CUDA's fallback lives in the wrapper

    class NoNative:  # an onnxruntime without the native session attribute
        def run(self, *args: object) -> None: ...

    no_native = NoNative()
    assert direct_run(no_native, cpu) == no_native.run
    names = [f"out{k}" for k in range(len(plan.outputs))]
    public = session.run(names, {f"in{k}": x for k, x in enumerate(feeds)})
    for got, want in zip(plan.run_feeds(feeds), public, strict=True):
        np.testing.assert_array_equal(got, want)
