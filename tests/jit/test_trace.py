"""jit.trace: decorator forms, recording, replay checks, constants and outputs."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.jit import TraceError, trace


def test_decorator_with_and_without_arguments() -> None:
    @trace
    def f(x):
        return x + 1

    @trace(symbolic=True, capture_as_const=True)
    def g(x):
        return x + 1

    assert isinstance(f, trace) and isinstance(g, trace)
    assert f.__name__ == "f"
    for fn in (f, g):
        assert fn(mge.tensor([1.0])).numpy().tolist() == [2.0]
        assert fn(mge.tensor([5.0])).numpy().tolist() == [6.0]


def test_later_calls_run_python_again_and_record_per_signature() -> None:
    calls = []

    @trace(symbolic=True)
    def f(x, y):
        calls.append(1)
        return F.relu(x) * y

    x = mge.tensor([-1.0, 2.0])
    np.testing.assert_array_equal(f(x, mge.tensor(3.0)).numpy(), [0, 6])
    np.testing.assert_array_equal(f(mge.tensor([4.0, -2.0]), mge.tensor(0.5)).numpy(), [2, 0])
    assert len(calls) == 2  # MegEngine runs the Python code on every call
    # other shapes or dtypes record a graph of their own; the first one stays `graph`
    np.testing.assert_array_equal(f(mge.tensor([1.0, -2.0, 3.0]), mge.tensor(2.0)).numpy(),
                                  [2, 0, 6])
    assert f(x, mge.tensor(3)).dtype == np.float32
    assert len(f._recordings) == 3
    f(mge.tensor([0.0, 0.0, 1.0]), mge.tensor(2.0))
    assert len(f._recordings) == 3
    assert f.graph.inputs[0].shape == (2,)


def test_non_symbolic_runs_python_again() -> None:
    calls = []

    @trace
    def f(x):
        calls.append(1)
        return x * 2

    f(mge.tensor([1.0]))
    assert f(mge.tensor([1.0, 2.0])).numpy().tolist() == [2.0, 4.0]
    assert len(calls) == 2


def test_capture_as_const_snapshots_while_plain_trace_reads_live_values() -> None:
    w = mge.Parameter([1.0, 2.0])

    def body(x):
        return x * w

    frozen = trace(body, symbolic=True, capture_as_const=True)
    live = trace(body, symbolic=True)
    x = mge.tensor([1.0, 1.0])
    frozen(x)
    live(x)
    w.set_value([10.0, 20.0])
    # MegEngine compares a captured value on every call: never a stale result
    with pytest.raises(TraceError, match="trace error because tensors not equals"):
        frozen(x)
    assert live(x).numpy().tolist() == [10.0, 20.0]
    assert [v.name for v in frozen.graph.inputs] == ["arg_0"]
    assert len(frozen.graph.params()) == 1


def test_equal_constants_are_never_merged() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return F.minimum(F.maximum(x, mge.tensor(0.0)), mge.tensor(6.0))

    x = mge.tensor([-3.0, 3.0, 9.0])
    f(x)
    consts = [v.value.item() for v in f.graph.params()]
    assert sorted(consts) == [0.0, 6.0]
    assert f(x).numpy().tolist() == [0.0, 3.0, 6.0]


def test_keyword_tensors_and_modules() -> None:
    class Scale:
        def __init__(self) -> None:
            self.k = mge.tensor([2.0])

        def __call__(self, x):
            return x * self.k

    net = Scale()

    @trace(symbolic=True, capture_as_const=True)
    def fun(data, *, net, bias):
        return net(data) + bias

    out = fun(mge.tensor([1.0, 2.0]), net=net, bias=mge.tensor([1.0]))
    assert out.numpy().tolist() == [3.0, 5.0]
    assert [v.name for v in fun.graph.inputs] == ["arg_0", "bias"]
    assert fun(mge.tensor([0.0, 1.0]), net=net, bias=mge.tensor([0.5])).numpy().tolist() == [
        0.5, 2.5]


def test_capture_as_const_rejects_non_tensor_positionals() -> None:
    @trace(capture_as_const=True)
    def f(x, n):
        return x * n

    with pytest.raises(TypeError, match="Only support tensor type args when capture_as_const"):
        f(mge.tensor([1.0]), 3)


def test_output_structures() -> None:
    @trace(symbolic=True)
    def f(x):
        return {"b": x + 1, "a": x * 3}

    @trace(symbolic=True)
    def g(x):
        return [x, (x + 1, x * 2)]

    x = mge.tensor([1.0])
    for _ in range(2):
        out = f(x)
        assert list(out) == ["b", "a"] and out["a"].numpy().tolist() == [3.0]
        nested = g(x)
        assert nested[0].numpy().tolist() == [1.0]
        assert nested[1][1].numpy().tolist() == [2.0]
    assert f.output_names == ("a", "b")
    assert [v.owner.params["mode"] for v in f.graph.outputs] == ["MUL", "ADD"]
    assert g.graph.outputs[0].is_input


def test_in_place_updates_are_followed() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        y = x + 1
        y.set_value(y * 3)
        return y

    f(mge.tensor([1.0]))
    assert f(mge.tensor([2.0])).numpy().tolist() == [9.0]


def test_named_tensors_name_vars() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        y = x * 2
        y.name = "double"
        return y

    f(mge.tensor([1.0]))
    assert f.graph.outputs[0].name == "double"


def test_graph_before_tracing_is_an_error() -> None:
    @trace
    def f(x):
        return x

    with pytest.raises(TraceError, match="not been traced"):
        f.graph  # noqa: B018


def test_module_parameters_are_named_by_their_paths() -> None:
    import mge.module as M

    net = M.Sequential(M.Conv2d(3, 4, 3), M.ReLU())
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def f(x, *, net):
        return net(x)

    f(mge.tensor(np.ones((1, 3, 5, 5), np.float32)), net=net)
    assert sorted(v.name for v in f.graph.params()) == ["0.bias", "0.weight"]


def test_without_host_refuses_unknown_external_tensors() -> None:
    """MegEngine's test_trace_without_error: without_host needs captured externals."""
    const = mge.tensor([8.0])

    @trace(symbolic=False, without_host=True)
    def fwd(a, b):  # noqa: ANN001, ANN202
        return a + b + const

    with pytest.raises(RuntimeError, match="have some unknown input tensors in trace result"):
        fwd(mge.tensor([1.0]), mge.tensor([2.0]))

    @trace(symbolic=False, without_host=True, capture_as_const=True)
    def captured(a, b):  # noqa: ANN001, ANN202
        return a + b + const

    np.testing.assert_allclose(captured(mge.tensor([1.0]), mge.tensor([2.0])).numpy(), [11.0])
