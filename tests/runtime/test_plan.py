"""Compiled plans: results against the executor on every plan backend, folding, buffer
lifetimes and in-place writes, shape changes, errors, compute dtypes, the plan-only pass."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.graph import Graph
from mge.jit import trace
from mge.ops import Elemwise, TypeCvt
from mge.ops.conv import ConvBiasForward
from mge.ops.shape import Broadcast, Padding, Reshape
from mge.runtime.executor import Executor
from mge.runtime.plan import (
    PLAN_BACKENDS,
    Plan,
    PlanBackend,
    PlanCache,
    PlanOptions,
    WeightCache,
    available_plan_backends,
    plan_backend_class,
    register_plan_backend,
)
from mge.runtime.plan.engine import ENV_LINT
from mge.runtime.specialize import ShapeError, has_sources, specialize

BACKENDS = [b for b in available_plan_backends() if b in ("numpy", "torch")]
F32 = np.float32


class _Net(M.Module):
    """Dense, grouped, depthwise and 1x1 convs, BN, pooling, residual, shuffle, FC."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = M.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = M.BatchNorm2d(8)
        self.dw = M.Conv2d(8, 8, 3, padding=1, groups=8)
        self.grp = M.Conv2d(8, 8, 1, groups=2)
        self.pw = M.Conv2d(4, 4, 1)
        self.fc = M.Linear(8, 5)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, 2, 1)
        y = F.relu6(self.dw(x))
        x = F.relu(self.grp(y) + x)
        a, b = x[:, :4], x[:, 4:]
        x = F.concat([a, F.sigmoid(self.pw(b))], 1)
        n, c, h, w = x.shape
        x = F.transpose(x.reshape(n, 2, c // 2, h * w), (0, 2, 1, 3)).reshape(n, c, h, w)
        x = F.avg_pool2d(x, (h, w))
        return self.fc(F.flatten(x, 1))


def _traced_graph(batch: int = 2, size: int = 16) -> Graph:
    mge.random.seed(3)
    net = _Net()
    net.eval()
    for m in net.modules():
        if isinstance(m, M.BatchNorm2d):
            shape = m.running_mean.shape
            m.running_mean[...] = mge.tensor(np.linspace(-0.5, 0.5, 8, dtype=F32).reshape(shape))
            m.running_var[...] = mge.tensor(np.linspace(0.5, 2.0, 8, dtype=F32).reshape(shape))

    @trace(symbolic=True, capture_as_const=True)
    def pred(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    pred(mge.tensor(np.zeros((batch, 3, size, size), F32)))
    graph = pred.graph.copy()
    graph.inputs[0].name = "data"
    return graph


@pytest.fixture(scope="module")
def graph() -> Graph:
    return _traced_graph()


def _x(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(F32)


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_plan_matches_executor(graph: Graph, backend: str, optimize: bool) -> None:
    x = _x((2, 3, 16, 16))
    (ref,) = Executor(graph, "numpy").run(x)
    cache = PlanCache(graph, PlanOptions(backend=backend, optimize=optimize, threads=1))
    (out,) = cache.plan().run(x)
    assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif("torch" not in BACKENDS, reason="layouts and compute dtypes are torch's")
def test_torch_layouts_and_precisions(graph: Graph) -> None:
    x = _x((2, 3, 16, 16))
    (ref,) = Executor(graph, "numpy").run(x)
    for cl in (False, True):
        (out,) = PlanCache(graph, PlanOptions(backend="torch", channels_last=cl)).plan().run(x)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    (low,) = PlanCache(graph, PlanOptions(backend="torch", compute_dtype="bfloat16")
                       ).plan().run(x)
    assert low.dtype == np.float32
    assert np.abs(low - ref).max() <= 0.05 * np.abs(ref).max()


def _chain() -> Graph:
    g = Graph()
    x = g.add_input("x", (4, 8), "float32")
    c = g.add_const(np.full((4, 8), 2.0, F32))
    (a,) = g.add_op(Elemwise(mode="RELU"), [x])
    (b,) = g.add_op(Elemwise(mode="ADD"), [a, c])
    (d,) = g.add_op(Elemwise(mode="MUL"), [b, c])
    g.outputs = [d]
    return g


@pytest.mark.parametrize("backend", BACKENDS)
def test_inplace_reuse_and_peak_memory(backend: str) -> None:
    plan = Plan(_chain(), PlanOptions(backend=backend))
    assert [s.inplace for s in plan.steps] == [None, 0, 0]  # never the caller's input
    assert plan.memory.peak_activation_bytes == 4 * 8 * 4  # one buffer, reused twice
    assert plan.memory.total_activation_bytes == 4 * 8 * 4
    assert plan.memory.inplace_ops == 2
    assert plan.memory.weight_bytes == 4 * 8 * 4
    x = _x((4, 8))
    x_before = x.copy()
    np.testing.assert_allclose(plan.run(x)[0], (np.maximum(x, 0) + 2) * 2, rtol=1e-6)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_live_values_and_views_are_not_overwritten(backend: str) -> None:
    g = Graph()
    x = g.add_input("x", (1, 6), "float32")
    (r,) = g.add_op(Elemwise(mode="RELU"), [x])
    (b,) = g.add_op(Broadcast(shape=(3, 6)), [r])  # a view: must not be written through
    (s,) = g.add_op(Elemwise(mode="ADD"), [b, g.add_const(np.ones((3, 6), F32))])
    (v,) = g.add_op(Reshape(shape=(6,)), [r])
    (m,) = g.add_op(Elemwise(mode="MUL"), [v, g.add_const(np.full(6, 3.0, F32))])
    (t,) = g.add_op(Elemwise(mode="ADD"), [r, g.add_const(np.ones((1, 6), F32))])
    g.outputs = [s, m, t, r]
    plan = Plan(g, PlanOptions(backend=backend))
    assert all(step.inplace is None for step in plan.steps)  # r is an output: kept
    xv = _x((1, 6))
    rv = np.maximum(xv, 0)
    s_out, m_out, t_out, r_out = plan.run(xv)
    np.testing.assert_allclose(s_out, np.broadcast_to(rv, (3, 6)) + 1)
    np.testing.assert_allclose(m_out, rv.reshape(6) * 3)
    np.testing.assert_allclose(t_out, rv + 1)
    np.testing.assert_allclose(r_out, rv)


def test_constants_are_folded_and_frees_follow_last_use() -> None:
    g = Graph()
    x = g.add_input("x", (3,), "float32")
    c = g.add_const(np.arange(3, dtype=F32))
    (cc,) = g.add_op(Elemwise(mode="MUL"), [c, c])  # constant: computed while planning
    (y,) = g.add_op(Elemwise(mode="ADD"), [x, cc])
    (z,) = g.add_op(TypeCvt(dtype="float16"), [y])
    g.outputs = [z, cc]
    plan = Plan(g, PlanOptions(backend="numpy"))
    assert [s.node.type for s in plan.steps] == ["Elemwise", "TypeCvt"]
    z_out, cc_out = plan.run(np.ones(3, F32))
    np.testing.assert_array_equal(cc_out, [0, 1, 4])
    assert z_out.dtype == np.float16 and z_out.tolist() == [1, 2, 5]
    assert plan.liveness.frees[0] == [y.id] or y.id in plan.liveness.frees[1]


def test_plan_cache_replans_for_new_shapes_and_shares_weights(graph: Graph) -> None:
    cache = PlanCache(graph, PlanOptions(backend="numpy"))
    first = cache.plan()
    weights = len(cache.weights)
    x = _x((5, 3, 16, 16))
    bigger = cache.plan({"data": x.shape})
    assert bigger is not first and bigger.inputs[0].shape == (5, 3, 16, 16)
    assert cache.plan({"data": x.shape}) is bigger
    assert len(cache.weights) == weights  # prepared weights are shared across shapes
    (ref,) = Executor(specialize(graph, {"data": x.shape}), "numpy").run(x)
    np.testing.assert_allclose(bigger.run(x)[0], ref, rtol=1e-4, atol=1e-6)
    assert bigger.run(x)[0].shape == (5, 5)


@pytest.mark.parametrize("flag", ["1", "0", None])
def test_optimized_graph_is_linted_only_under_the_flag(graph: Graph, flag: str | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    linted: list[Graph] = []
    monkeypatch.setattr(Graph, "lint", lambda self: linted.append(self))
    if flag is None:
        monkeypatch.delenv(ENV_LINT, raising=False)
    else:
        monkeypatch.setenv(ENV_LINT, flag)
    cache = PlanCache(graph, PlanOptions(backend="numpy"))
    assert linted == ([cache.graph] if flag == "1" else [])


def test_shape_errors_name_the_input_and_the_op(graph: Graph) -> None:
    with pytest.raises(ShapeError, match=r"input 'data': expected shape \(2, 3, 16, 16\), "
                                         r"got \(2, 4, 16, 16\): ConvolutionForward"):
        specialize(graph, {"data": (2, 4, 16, 16)})
    # the shuffle's reshape target is traced from x.shape: it follows H and W
    wider = specialize(graph, {"data": (2, 3, 24, 24)})
    assert wider.outputs[0].shape[0] == 2 and not has_sources(wider)
    with pytest.raises(KeyError, match="no input 'image'"):
        specialize(graph, {"image": (1, 3, 16, 16)})
    plan = Plan(graph, PlanOptions(backend="numpy"))
    with pytest.raises(ValueError, match=r"input 'data': the plan takes shape \(2, 3, 16, 16\)"
                                         r", got \(2, 3, 8, 8\)"):
        plan.run(_x((2, 3, 8, 8)))
    with pytest.raises(TypeError, match="input 'data': the plan takes dtype float32, got int32"):
        plan.run(np.zeros((2, 3, 16, 16), np.int32))
    with pytest.raises(TypeError, match=r"plan takes inputs \['data'\]"):
        plan.run(image=_x((2, 3, 16, 16)))


def test_backend_selection() -> None:
    assert set(BACKENDS) <= set(available_plan_backends())
    assert plan_backend_class(PlanOptions(backend="numpy")).name == "numpy"
    with pytest.raises(ValueError, match="unknown plan backend 'tpu'"):
        plan_backend_class(PlanOptions(backend="tpu"))
    with pytest.raises(RuntimeError, match="'numpy' computes in the graph's dtypes"):
        plan_backend_class(PlanOptions(backend="numpy", compute_dtype="bfloat16"))
    with pytest.raises(RuntimeError, match="runs on cpu only"):
        plan_backend_class(PlanOptions(backend="numpy", device="gpu0"))
    if "torch" in BACKENDS:
        assert plan_backend_class(PlanOptions(compute_dtype="bfloat16")).name == "torch"
    else:
        with pytest.raises(RuntimeError, match="no plan backend can run"):
            plan_backend_class(PlanOptions(compute_dtype="bfloat16"))


def test_whole_graph_backends_and_observers() -> None:
    calls = []

    @register_plan_backend
    class Doubler(PlanBackend):
        name, eager = "test-doubler", "numpy"

        def compile_graph(self, graph: Graph):  # noqa: ANN202
            return lambda feeds: [f * 2 for f in feeds]

        def session(self) -> contextlib.AbstractContextManager:
            calls.append("session")
            return contextlib.nullcontext()

    try:
        g = Graph()
        x = g.add_input("x", (2,), "float32")
        g.outputs = g.add_op(Elemwise(mode="NEGATE"), [x])
        plan = Plan(g, PlanOptions(backend="test-doubler"))
        assert plan.steps == [] and plan.run(np.ones(2, F32))[0].tolist() == [2, 2]
        assert calls == ["session"]
    finally:
        del PLAN_BACKENDS["test-doubler"]
    seen = []
    plan = Plan(_chain(), PlanOptions(backend="numpy"))
    plan.run_feeds([_x((4, 8))], lambda step, outs, secs: seen.append(
        (step.index, outs[0].shape, secs >= 0)))
    assert seen == [(0, (4, 8), True), (1, (4, 8), True), (2, (4, 8), True)]


def test_weight_cache_keeps_values_alive() -> None:
    cache = WeightCache()
    value = np.ones(3)
    made = []
    first = cache.get(value, ("k",), lambda v: made.append(1) or v * 2)
    assert cache.get(value, ("k",), lambda v: made.append(1) or v * 3) is first
    assert made == [1] and len(cache) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_epilogue_pass(backend: str) -> None:
    g = Graph()
    x = g.add_input("x", (1, 4, 6, 6), "float32")
    w = g.add_const(_x((4, 4, 3, 3), 1) * 0.3)
    r = g.add_input("r", (1, 4, 6, 6), "float32")
    (c,) = g.add_op(ConvBiasForward(pad_h=1, pad_w=1), [x, w, r])
    (y,) = g.add_op(Elemwise(mode="FUSE_ADD_RELU"), [c, g.add_const(_x((1, 4, 1, 1), 2))])
    (c2,) = g.add_op(ConvBiasForward(pad_h=1, pad_w=1), [y, w, g.add_const(_x((1, 4, 1, 1)))])
    (z,) = g.add_op(Elemwise(mode="RELU6"), [c2])
    g.outputs = [z]
    feeds = {"x": _x((1, 4, 6, 6), 3), "r": _x((1, 4, 6, 6), 4)}
    (ref,) = Executor(g, "numpy").run(**feeds)
    cache = PlanCache(g, PlanOptions(backend=backend))
    types = [(n.type, n.op.params().get("nonlineMode")) for n in cache.graph.ops()
             if not n.op.params() == {} and n.type != "Host2DeviceCopy"]
    assert types == [("ConvBiasForward", "RELU"), ("ConvBiasForward", "RELU6")]
    assert cache.graph.outputs[0].owner.op.unwritable()  # RELU6: in memory only
    np.testing.assert_allclose(cache.plan().run(**feeds)[0], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_then_conv(backend: str) -> None:
    """Asymmetric constant padding (as ONNX imports give) before a strided depthwise conv."""
    g = Graph()
    x = g.add_input("x", (1, 4, 7, 7), "float32")
    (p,) = g.add_op(Padding(front_offset_dim2=0, back_offset_dim2=1, front_offset_dim3=2,
                            back_offset_dim3=1, padding_val=0.5), [x])
    (y,) = g.add_op(ConvBiasForward(stride_h=2, stride_w=2, sparse="GROUP"),
                    [p, g.add_const(_x((4, 1, 1, 3, 3), 6))])
    g.outputs = [y]
    xv = _x((1, 4, 7, 7), 7)
    (ref,) = Executor(g, "numpy").run(xv)
    for cl in (False, True) if backend == "torch" else (None,):
        (out,) = Plan(g, PlanOptions(backend=backend, channels_last=cl)).run(xv)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_blas_threads_restores() -> None:
    from mge.runtime.cpu import _openblas_setters, blas_threads, reduced_precision_dtype

    assert reduced_precision_dtype() in (None, "bfloat16", "float16")
    funcs = _openblas_setters()
    if funcs is None:
        pytest.skip("numpy's BLAS has no thread control here")
    before = funcs[1]()
    with blas_threads(1):
        assert funcs[1]() == 1
    assert funcs[1]() == before
