"""Later calls of a trace are checked against the recording (MegEngine 1.13's TraceError)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.jit import TraceError, trace

# MegEngine 1.13's unit/jit test_trace_mismatch cases: (recorded, changed, reason)
MISMATCHES = [
    ("a + b + c", "a + b - c", "operator mismatch"),
    ("a + b + 1", "a + b + 2", "tensors not equals"),
    ("((a + b), (b + c))[0]", "a + b", "mismature end"),
    ("a + b + c", "c + (a + b)", "expect internal node, got external"),
    ("c + (a + b)", "a + b + c", "expect external node, got internal"),
    ("a + b + c", "a + b + c + c", "too many instructions"),
    ("((a + b), (b + c))[1]", "((a + b), (b + c))[0]", "data unreadable"),
    ("((a + b), (b + c))[1] + a", "((a + b), (b + c))[0] + a", "input id mismatch"),
]


@pytest.mark.parametrize("symbolic", [True, False])
@pytest.mark.parametrize(("normal", "changed", "reason"), MISMATCHES)
def test_a_changed_function_raises_trace_error(normal: str, changed: str, reason: str,
                                               symbolic: bool) -> None:
    a, b, c = mge.tensor([1, 2, 3, 4]), mge.tensor([5, 6, 7, 8]), mge.tensor([9, 0, 1, 2])
    expr = {"now": normal}

    @trace(symbolic=symbolic)
    def fn(a, b, c):
        return eval(expr["now"])

    expected = eval(normal).numpy()
    for _ in range(2):
        np.testing.assert_array_equal(fn(a, b, c).numpy(), expected)
    expr["now"] = changed
    with pytest.raises(TraceError) as info:
        fn(a, b, c)
    assert str(info.value) == f"trace error because {reason}"
    expr["now"] = normal  # the recording still serves the unchanged function
    np.testing.assert_array_equal(fn(a, b, c).numpy(), expected)


def test_an_exception_of_the_function_propagates() -> None:
    a, b, c = mge.tensor([1, 2, 3, 4]), mge.tensor([5, 6, 7, 8]), mge.tensor([9, 0, 1, 2])
    state = {"fail": False}
    exc = ValueError("from the function")

    @trace(symbolic=True)
    def fn(a, b, c):
        result = a + b
        if state["fail"]:
            raise exc
        return result + c

    fn(a, b, c)
    state["fail"] = True
    with pytest.raises(ValueError) as info:
        fn(a, b, c)
    assert info.value is exc
    state["fail"] = False
    np.testing.assert_array_equal(fn(a, b, c).numpy(), [15, 8, 11, 14])


def test_a_branch_on_a_python_value_is_never_replayed_stale() -> None:
    scale = {"k": 2.0}

    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return F.relu(x) * scale["k"]

    x = mge.tensor([-1.0, 3.0])
    assert f(x).numpy().tolist() == [0.0, 6.0]
    assert f(mge.tensor([1.0, 1.0])).numpy().tolist() == [2.0, 2.0]
    scale["k"] = 5.0
    with pytest.raises(TraceError, match="tensors not equals"):
        f(x)


def test_live_external_tensors_are_read_on_every_call() -> None:
    w = mge.Parameter([1.0, 2.0])

    @trace(symbolic=True)
    def f(x):
        return x * w + 1

    x = mge.tensor([1.0, 1.0])
    assert f(x).numpy().tolist() == [2.0, 3.0]
    w.set_value([10.0, 20.0])  # not captured as a constant: the new value is used
    assert f(x).numpy().tolist() == [11.0, 21.0]


@pytest.mark.parametrize("capture_as_const", [False, True])
def test_excluded_blocks_run_on_every_call_unchecked(capture_as_const: bool) -> None:
    from mge.jit import exclude_from_trace, is_tracing

    flips = iter([False, True, False, True])
    seen = []

    @trace(symbolic=True, capture_as_const=capture_as_const)
    def f(x):
        seen.append(is_tracing())
        x = -x
        with exclude_from_trace():
            seen.append(is_tracing())
            if next(flips):
                x = -x
        return x * 2

    x = mge.tensor([1.0])
    assert [f(x).numpy().tolist() for _ in range(4)] == [[-2.0], [2.0], [-2.0], [2.0]]
    assert seen[:2] == [True, False] and not is_tracing()
    assert [s.op.params()["mode"] for s in f._recordings[next(iter(f._recordings))].steps] \
        == ["NEGATE", "MUL"]


def test_profiling_times_the_checked_calls() -> None:
    @trace(symbolic=True, profiling=True)
    def f(x):
        return -x + 1

    f(mge.tensor([1.0]))
    f(mge.tensor([2.0]))
    f(mge.tensor([3.0]))
    ops = f.get_profile()["profiler"]["operator"]
    assert [(op["type"], op["count"]) for op in ops] == [("Elemwise", 2), ("Elemwise", 2)]
    assert all(op["host_time"] >= 0 for op in ops)

    @trace
    def g(x):
        return x

    g(mge.tensor([1.0]))
    with pytest.raises(RuntimeError, match="needs trace"):
        g.get_profile()


def test_graph_optimization_config_is_accepted() -> None:
    from mge.jit import GraphOptimizationConfig

    config = GraphOptimizationConfig()
    config.jit_fuse_reduce = False
    assert repr(config) == ("GraphOptimizationConfig { jit_fuse_dimshuffle = UNSET, "
                            "jit_fuse_reduce = OFF }")

    @trace(symbolic=True, graph_opt_config=config)
    def f(x):
        return x + 1

    assert f(mge.tensor([1.0])).numpy().tolist() == [2.0]


@pytest.mark.parametrize("symbolic", [True, False])
def test_a_cond_take_count_may_change_between_calls(symbolic: bool) -> None:
    # MegEngine's CondTake has a dynamic output shape: its count is no param to check,
    # and the dump holds no count (GraphInference runs it at any count)
    import io

    from mge.utils.comp_graph_tools import GraphInference

    @trace(symbolic=symbolic, capture_as_const=True)
    def fwd(a):
        v, i = F.cond_take(a > 1, a)
        return v * 2, i

    for data in ([1.0, 2.0], [3.0, 2.0], [0.0, 0.5], [5.0, 0.0]):
        x = np.array(data, "float32")
        v, i = fwd(mge.tensor(x))
        np.testing.assert_array_equal(v.numpy(), x[x > 1] * 2)
        np.testing.assert_array_equal(i.numpy(), np.nonzero(x > 1)[0])
    file = io.BytesIO()
    fwd.dump(file, arg_names=["a"], output_names=["v", "i"], optimize_for_inference=False)
    file.seek(0)
    graph = GraphInference(file)
    for data in ([3.0, 2.0], [0.0, 0.0], [1.5, 0.0]):
        x = np.array(data, "float32")
        out = graph.run(x)
        np.testing.assert_array_equal(out["v"], x[x > 1] * 2)
        np.testing.assert_array_equal(out["i"], np.nonzero(x > 1)[0])
