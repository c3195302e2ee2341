"""``trace(opt_level=...)``: MegBrain's arithmetic rules change values and dumps as in
MegEngine 1.13 (golden values from the oracle: ``tools/oracle/make_opt_level.py``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.autodiff import GradManager
from mge.graph.interpreter import Executor
from mge.jit import trace
from mge.runtime.specialize import specialize
from mge.serialization.mge_graph import graph_from_bytes
from tests.oracle import requires_oracle, run_in_megengine
from tools.oracle.make_opt_level import run

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "jit" / "opt_level.npz"


@pytest.fixture(scope="module")
def ours() -> dict[str, np.ndarray]:
    return run(mge, F, trace)


@pytest.mark.parametrize("symbolic", [1, 0])
@pytest.mark.parametrize("level", [0, 1, 2])
def test_values_equal_megengine(ours: dict[str, np.ndarray], symbolic: int, level: int) -> None:
    golden = np.load(GOLDEN)
    for key in golden.files:
        if key.startswith(f"{symbolic}_{level}_"):
            # rtol: mge's eager float32 log differs from MegDNN's by 1 ULP at level 0
            np.testing.assert_allclose(ours[key], golden[key], rtol=1e-6, err_msg=key)


def test_megengine_goptions_examples() -> None:
    # MegEngine 1.13's test_goptions and test_goptions_log_sum_exp
    @trace(symbolic=True, opt_level=0, capture_as_const=True)
    def f(x):
        y = 2.0 * x
        return y / y

    @trace(symbolic=True, opt_level=1, capture_as_const=True)
    def g(x):
        y = 2.0 * x
        return y / y

    assert not np.isfinite(f(mge.tensor(0.0)).numpy())
    assert g(mge.tensor(0.0)).numpy().item() == 1.0

    @trace(symbolic=True, capture_as_const=True)  # default opt_level is 2
    def lse(x, y):
        return F.log(F.exp(x) + F.exp(y))

    np.testing.assert_allclose(lse(mge.tensor(1e4), mge.tensor(0.0)).numpy(), 1e4)


def _dumped_ops(fn) -> list[str]:
    buf = io.BytesIO()
    fn.dump(buf, optimize_for_inference=False)
    graph = graph_from_bytes(buf.getvalue()).graph
    return [f"{n.type}:{n.op.mode}" if hasattr(n.op, "mode") else n.type
            for n in graph.ops()]


def test_dump_holds_the_rewritten_graph() -> None:
    # MegEngine 1.13's test_goptions_log_exp: two operators fewer at opt_level 1
    for level, expected in ((0, 2), (1, 0)):
        @trace(symbolic=True, opt_level=level, capture_as_const=True)
        def f(x):
            return F.log(F.exp(x))

        f(mge.tensor(1.0))
        assert sum(t.startswith("Elemwise") for t in _dumped_ops(f)) == expected

    @trace(symbolic=True, capture_as_const=True)
    def g(x, y):
        return F.log(F.exp(x) + F.exp(y)), F.log(1 + x), F.exp(x) - 1

    g(mge.tensor([1.0, 2.0]), mge.tensor([3.0, 4.0]))
    ops = _dumped_ops(g)
    assert {"Elemwise:LOG_SUM_EXP", "Elemwise:LOG1P", "Elemwise:EXPM1"} <= set(ops)
    assert "Elemwise:LOG" not in ops and "Elemwise:EXP" not in ops


def test_recording_gradients_and_checks_see_the_written_ops() -> None:
    @trace(symbolic=True, opt_level=2)
    def f(x):
        return F.log(F.exp(x) + F.exp(x * 2))

    x = mge.tensor([1e4, 1.0])
    for _ in range(3):  # later calls are checked against the recording: no TraceError
        np.testing.assert_allclose(f(x).numpy(), np.logaddexp([1e4, 1.0], [2e4, 2.0]),
                                   rtol=1e-6)
    assert [s.op.mode for s in f._first.steps] == ["EXP", "MUL", "EXP", "ADD", "LOG"]
    w = mge.Parameter([0.5, 1.0])
    gm = GradManager().attach([w])
    with gm:
        gm.backward(F.sum(f(w)))
    expected = (np.exp([0.5, 1.0]) + 2 * np.exp([1.0, 2.0])) / (np.exp([0.5, 1.0])
                                                                  + np.exp([1.0, 2.0]))
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-5)


def test_opt_level_is_checked() -> None:
    with pytest.raises(ValueError, match="opt_level"):
        trace(lambda x: x, opt_level=5)


def test_excluded_code_and_level_zero_run_unchanged() -> None:
    @trace(symbolic=True, opt_level=0)
    def f(x):
        y = x * 2
        return y - y

    assert np.isnan(f(mge.tensor([np.inf])).numpy()).all()


@pytest.mark.parametrize(("fn", "ops"), [
    # MegEngine 1.13's dumps (oracle): the MULs are one after its dedup, then a - a -> 0
    (lambda x: (x * 2) - (x * 2), ["Elemwise:MUL", "GetVarShape", "Broadcast"]),
    (lambda x: F.relu(x) / F.relu(x), ["Elemwise:RELU", "GetVarShape", "Broadcast"]),
    (lambda x: x * 0, ["GetVarShape", "Broadcast"]),
])
def test_dumped_fills_follow_the_input_size(fn, ops) -> None:
    f = trace(fn, symbolic=True, capture_as_const=True)
    f(mge.tensor(np.ones((2, 3), "float32")))
    assert [t for t in _dumped_ops(f) if t not in ("Host2DeviceCopy", "ImmutableTensor")] \
        == ops
    buf = io.BytesIO()
    f.dump(buf, arg_names=["x"])
    graph = graph_from_bytes(buf.getvalue()).graph
    x = np.full((4, 5), np.inf, "float32")
    (out,) = Executor(specialize(graph, {"x": (4, 5)})).run(x)
    expected = 1.0 if ops[0] == "Elemwise:RELU" else 0.0  # x / x is 1, x - x and x * 0 are 0
    np.testing.assert_array_equal(out, np.full((4, 5), expected, "float32"))


@requires_oracle
def test_megengine_lite_runs_the_rewritten_dumps(tmp_path: Path) -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x, y):
        return F.log(F.exp(x) + F.exp(y)) + x * 0 + F.log(1 + y) + (F.exp(x) - 1) * 0.5

    f(mge.tensor(np.ones((2, 3), "float32")), mge.tensor(np.ones((2, 3), "float32")))
    path = tmp_path / "f.mge"
    f.dump(str(path), arg_names=["x", "y"], output_names=["out"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5)).astype("float32")
    y = rng.standard_normal((4, 5)).astype("float32") ** 2
    x[0, 0] = 1e4  # LOG_SUM_EXP keeps this finite; x * 0 is 0 although exp(x) is inf
    out = run_in_megengine(path, {"x": x, "y": y})["out"]
    rest, y_rest = x[1:].astype("float64"), y[1:]
    expected = np.logaddexp(rest, y_rest) + np.log1p(y_rest) + np.expm1(rest) * 0.5
    np.testing.assert_allclose(out[1:], expected, rtol=1e-5)
    assert out[0, 0] == np.inf  # expm1(1e4) overflows in MegEngine too


def test_a_rewritten_result_is_not_its_input() -> None:
    @trace(symbolic=True)
    def f(x):
        return x * 1

    x = mge.tensor([1.0, 2.0])
    y = f(x)
    y += 1  # in place on the result only
    assert x.numpy().tolist() == [1.0, 2.0] and y.numpy().tolist() == [2.0, 3.0]
    assert np.shares_memory(f(x).numpy(), x.numpy()) is False
