"""Symbolic shapes: inside ``jit.trace`` ``x.shape`` is a ``GetVarShape`` Tensor, and what is
built from it follows the input size in the traced graph, the dumped ``.mge`` file (mge's
and MegEngine's) and mge.lite's re-planning."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.lite as lite
from mge.core._trace_option import set_symbolic_shape, use_symbolic_shape
from mge.core.tensor import megbrain_graph as G
from mge.jit import trace
from tests.oracle import requires_oracle, run_in_megengine

from .any_size_models import traced_dump

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "interop"


def _run_lite(model: bytes | str, x: np.ndarray) -> np.ndarray:
    net = lite.LiteNetwork()
    net.load(model)
    net.get_io_tensor(net.get_input_name(0)).set_data_by_copy(x)
    net.forward()
    net.wait()
    return net.get_io_tensor(net.get_output_name(0)).to_numpy()


def _shuffle(x):  # noqa: ANN001, ANN202 - a user's channel shuffle, as ShuffleNetV2 has it
    n, c, h, w = x.shape
    x = x.reshape(n * c // 2, 2, h * w)
    x = F.transpose(x, (1, 0, 2))
    return x.reshape(2, -1, c // 2, h, w)[0] + 1


def _dumped(fn, x: np.ndarray) -> bytes:  # noqa: ANN001
    traced = trace(fn, symbolic=True, capture_as_const=True)
    traced(mge.tensor(x))
    buf = io.BytesIO()
    traced.dump(buf, arg_names=["data"])
    return buf.getvalue()


def test_shape_is_a_tensor_only_inside_the_trace() -> None:
    seen = []

    @trace(symbolic=True)
    def f(x):  # noqa: ANN001, ANN202
        seen.append(x.shape)
        return x * 2

    x = mge.tensor(np.zeros((2, 3), np.float32))
    f(x)
    assert isinstance(seen[0], mge.Tensor) and seen[0].dtype == np.int32
    np.testing.assert_array_equal(seen[0].numpy(), [2, 3])
    assert x.shape == (2, 3) and not use_symbolic_shape()
    assert "GetVarShape" not in f.graph.format()  # an unused shape is not part of the graph

    @trace(symbolic=True, symbolic_shape=False)
    def g(x):  # noqa: ANN001, ANN202
        seen.append(x.shape)
        return x * 2

    g(x)
    assert seen[-1] == (2, 3)


def test_set_symbolic_shape_switches_eager_shapes() -> None:
    x = mge.tensor(np.zeros((4, 5), np.float32))
    old = set_symbolic_shape(True)
    try:
        np.testing.assert_array_equal(x.shape.numpy(), [4, 5])
        assert F.flatten(x).shape == (20,)  # mge's own functions still read tuples
    finally:
        set_symbolic_shape(old)
    assert x.shape == (4, 5)


def test_traced_reshape_records_the_shape_chain_and_replays() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x):  # noqa: ANN001, ANN202
        return x.reshape(x.shape[0], -1)

    f(mge.tensor(np.ones((2, 3, 4), np.float32)))
    text = f.graph.format()
    assert "GetVarShape" in text and "Concat" in text
    reshape = [n for n in f.graph.ops() if n.type == "Reshape" and len(n.inputs) == 2]
    assert len(reshape) == 1
    out = f(mge.tensor(np.ones((2, 3, 4), np.float32)))  # checked replay
    assert out.shape == (2, 12)


def test_dump_writes_reshape_with_a_shape_input_as_megengine() -> None:
    data = _dumped(_shuffle, np.zeros((1, 4, 6, 6), np.float32))
    loaded = G.load_graph(io.BytesIO(data))
    types = [n.type for n in loaded.graph.ops()]
    assert "GetVarShape" in types
    shaped = [n for n in loaded.graph.ops() if n.type == "Reshape"]
    assert shaped and all(len(n.inputs) == 2 for n in shaped)


@pytest.mark.parametrize("shape", [(1, 4, 6, 6), (3, 4, 10, 8), (2, 8, 5, 7)])
def test_lite_replans_any_input_size(shape: tuple[int, ...]) -> None:
    data = _dumped(_shuffle, np.zeros((1, 4, 6, 6), np.float32))
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expect = _shuffle(mge.tensor(x)).numpy()
    np.testing.assert_allclose(_run_lite(data, x), expect, rtol=1e-6, atol=1e-6)


def test_traced_flatten_follows_spatial_size() -> None:
    def f(x):  # noqa: ANN001, ANN202
        return F.flatten(x, 2) * 2

    data = _dumped(f, np.zeros((1, 2, 4, 4), np.float32))
    x = np.arange(2 * 2 * 3 * 5, dtype=np.float32).reshape(2, 2, 3, 5)
    np.testing.assert_array_equal(_run_lite(data, x), x.reshape(2, 2, 15) * 2)


def _resized(x):  # noqa: ANN001, ANN202 - sizes from a scale and from x.shape
    by_scale = F.vision.interpolate(x, scale_factor=2.0, mode="bilinear")
    by_shape = F.vision.interpolate(x, size=x.shape[2:] * 2 + 1, mode="nearest")
    return by_shape, by_scale


def _broadcast(x):  # noqa: ANN001, ANN202
    return F.broadcast_to(F.mean(x, axis=1, keepdims=True), x.shape) - x


@pytest.mark.parametrize("fn", [_resized, _broadcast])
def test_interpolate_and_broadcast_sizes_follow_the_input(fn) -> None:  # noqa: ANN001
    traced = trace(fn, symbolic=True, capture_as_const=True)
    traced(mge.tensor(np.zeros((1, 2, 4, 4), np.float32)))
    buf = io.BytesIO()
    traced.dump(buf, arg_names=["data"])
    x = np.random.default_rng(4).standard_normal((2, 2, 5, 7)).astype(np.float32)
    old = set_symbolic_shape(True)  # the eager reference reads x.shape as the trace does
    try:
        expect = [t.numpy() for t in (fn(mge.tensor(x)) if fn is _resized
                                      else (fn(mge.tensor(x)),))]
    finally:
        set_symbolic_shape(old)
    net = lite.LiteNetwork()
    net.load(buf.getvalue())
    net.get_io_tensor("data").set_data_by_copy(x)
    net.forward()
    net.wait()
    for k, want in enumerate(expect):
        got = net.get_io_tensor(net.get_output_name(k)).to_numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_baked_shape_fails_clearly_at_another_size() -> None:
    @trace(symbolic=True, capture_as_const=True, symbolic_shape=False)
    def f(x):  # noqa: ANN001, ANN202
        n, c, h, w = x.shape
        return x.reshape(n, c * h * w)

    f(mge.tensor(np.zeros((1, 2, 4, 4), np.float32)))
    buf = io.BytesIO()
    f.dump(buf)
    with pytest.raises(ValueError, match="cannot reshape"):
        _run_lite(buf.getvalue(), np.zeros((1, 2, 6, 6), np.float32))


def _image(h: int, w: int) -> np.ndarray:
    """The input formula of tools/oracle/make_any_size_golden.py."""
    return np.sin(np.arange(3 * h * w, dtype=np.float64) * 0.37).reshape(1, 3, h, w).astype(
        "float32")


@pytest.mark.parametrize("size", [(224, 224), (160, 160), (240, 320)])
def test_megengine_dump_at_224_runs_in_mge_lite_at_other_sizes(size: tuple[int, int]) -> None:
    expect = np.load(FIXTURES / "shufflenet_any_size.npz")[f"eager/{size[0]}x{size[1]}"]
    out = _run_lite(str(FIXTURES / "shufflenet_any_size.mge"), _image(*size))
    np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "shufflenet_v2"])
def test_models_dumped_at_224_run_in_mge_lite_at_other_sizes(name: str) -> None:
    net, data = traced_dump(name)
    rng = np.random.default_rng(2)
    for shape in [(1, 3, 160, 160), (1, 3, 240, 320)]:
        x = rng.standard_normal(shape).astype(np.float32)
        expect = net(mge.tensor(x)).numpy()
        np.testing.assert_allclose(_run_lite(data, x), expect, rtol=1e-4, atol=1e-4)


@requires_oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "shufflenet_v2"])
def test_mge_dumps_run_in_megengine_lite_at_other_sizes(name: str, tmp_path: Path) -> None:
    net, data = traced_dump(name)
    path = tmp_path / f"{name}.mge"
    path.write_bytes(data)
    rng = np.random.default_rng(3)
    for shape in [(1, 3, 160, 160), (1, 3, 240, 320)]:
        x = rng.standard_normal(shape).astype(np.float32)
        expect = net(mge.tensor(x)).numpy()
        (out,) = run_in_megengine(path, {"data": x}).values()
        np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-4)


def test_concat_of_shape_parts_inside_trace() -> None:
    """MegFlow's warp-matrix code: ``F.concat([data.shape[0], M.shape])`` (MegEngine: [2 3 3])."""
    @trace(symbolic=True, capture_as_const=True)
    def f(data, m):  # noqa: ANN001, ANN202
        return F.concat([data.shape[0], m.shape])

    args = (mge.tensor(np.zeros((2, 4), np.float32)), mge.tensor(np.zeros((3, 3), np.float32)))
    np.testing.assert_array_equal(f(*args).numpy(), [2, 3, 3])
    np.testing.assert_array_equal(f(*args).numpy(), [2, 3, 3])


def test_specialize_recomputes_a_shape_input() -> None:
    from mge.graph import Graph
    from mge.ops.shape import GetVarShape, Reshape
    from mge.runtime.specialize import has_sources, specialize

    g = Graph()
    x = g.add_input("x", (2, 6), "float32")
    (shape,) = g.add_op(GetVarShape(), [x])
    (y,) = g.add_op(Reshape(shape=(2, 6)), [x, shape])  # the target read from x's shape
    g.outputs = [y]
    assert has_sources(g)
    wider = specialize(g, {"x": (3, 5)})
    assert wider.outputs[0].shape == (3, 5) and not has_sources(wider)
    assert [n.type for n in wider.ops()] == ["Host2DeviceCopy", "Reshape"]


@pytest.mark.parametrize("symbolic", [False, True])
def test_repeat_by_a_tensor_replays_with_other_counts(symbolic: bool) -> None:
    """MegEngine's test_repeat_in_trace: the count is a Tensor input, the Broadcast and
    Reshape targets follow it on every checked call (no TraceError)."""
    @trace(symbolic=symbolic)
    def f(data, repeats):  # noqa: ANN001, ANN202
        return F.repeat(data, repeats, axis=1)

    data = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    for count in range(1, 4):
        out = f(mge.tensor(data), mge.tensor(count))
        np.testing.assert_array_equal(out.numpy(), np.repeat(data, count, axis=1))


def test_a_target_from_input_values_is_dumped_as_its_value() -> None:
    """``F.broadcast_to(x, shape)`` with ``shape`` a Tensor argument (MegEngine's opr_test):
    the target depends on input values, not shapes, so the file holds it as a param."""
    traced = trace(F.broadcast_to, symbolic=True, capture_as_const=True)
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    traced(mge.tensor(x), mge.tensor(np.array([2, 10, 3], np.int32)))
    buf = io.BytesIO()
    traced.dump(buf)
    loaded = G.load_graph(io.BytesIO(buf.getvalue()))
    (node,) = [n for n in loaded.graph.ops() if n.type == "Broadcast"]
    assert len(node.inputs) == 1 and loaded.output_vars_list[0].shape == (2, 10, 3)
