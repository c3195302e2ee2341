"""The random ops (``mge.ops.random``): traced functions that draw record them, dumps
draw fresh values on every run (in mge.lite and in real MegEngine), MegEngine's dumps of
them run in mge.lite, and no pass folds them into constants."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import mge
from mge.core.apply import apply
from mge.graph.ir import Graph
from mge.graph.passes import run_passes
from mge.jit import trace
from mge.lite import LiteConfig, LiteNetwork
from mge.ops.random import GammaRNG, UniformRNG
from tests.oracle import REPO, oracle_python, requires_oracle
from tools.oracle.random_ops import run_three_times

FIXTURE = REPO / "tests" / "fixtures" / "random" / "draws.mge"
TOOL = REPO / "tools" / "oracle" / "random_ops.py"
#: output -> (mean, std, tolerance of the mean, of the std) for 1000 draws (>= 5 sigma)
EXPECTED = {
    "u": (0.5, 0.2887, 0.05, 0.03),         # U[0, 1)
    "n": (2.0, 3.0, 0.5, 0.4),              # N(2, 3^2)
    "g": (3.0, 2.1213, 0.35, 0.5),          # Gamma(k=2, theta=1.5)
    "b": (0.2857, 0.1597, 0.03, 0.03),      # Beta(2, 5)
    "p": (4.0, 2.0, 0.35, 0.3),             # Poisson(4)
    "perm": (24.5, 14.4309, 1e-6, 1e-3),    # a permutation of 0..49
}


def _draws(x: mge.Tensor) -> tuple[mge.Tensor, ...]:
    """What tools/oracle/random_ops.py traces in MegEngine."""
    return (x + mge.random.uniform(0, 1, size=(1000,)),
            mge.random.normal(2.0, 3.0, size=(1000,)),
            mge.random.gamma(2.0, 1.5, size=(1000,)),
            mge.random.beta(2.0, 5.0, size=(1000,)),
            mge.random.poisson(4.0, size=(1000,)),
            mge.random.permutation(50))


def _check_report(report: dict[str, dict]) -> None:
    assert set(report) == set(EXPECTED)
    for name, (mean, std, tol_mean, tol_std) in EXPECTED.items():
        got = report[name]
        assert got["shape"] == ([50] if name == "perm" else [1000]), name
        assert got["dtype"] == ("int32" if name == "perm" else "float32"), name
        assert abs(got["mean"] - mean) <= tol_mean, (name, got)
        assert abs(got["std"] - std) <= tol_std, (name, got)
        assert got["fresh"], f"{name}: the same values on two runs"


def _run_in_lite(model: bytes | Path, backend: str = "numpy") -> dict[str, dict]:
    config = LiteConfig()
    config.plan_backend = backend
    net = LiteNetwork(config)
    net.load(model if isinstance(model, Path) else io.BytesIO(model))
    return run_three_times(net)


def _traced_dump() -> bytes:
    mge.random.seed(7)
    fn = trace(symbolic=True, capture_as_const=True)(_draws)
    x = mge.tensor(np.zeros((1000,), np.float32))
    first, second = fn(x), fn(x)  # the second call replays: no TraceError
    assert not np.array_equal(first[0].numpy(), second[0].numpy())
    buf = io.BytesIO()
    fn.dump(buf, arg_names=["x"], output_names=list(EXPECTED))
    return buf.getvalue()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_traced_dump_draws_fresh_values_in_lite(backend: str) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    _check_report(_run_in_lite(_traced_dump(), backend))


def test_megengine_dump_runs_in_lite() -> None:
    _check_report(_run_in_lite(FIXTURE))


@requires_oracle
def test_our_dump_runs_in_megengine(tmp_path: Path) -> None:
    path = tmp_path / "draws.mge"
    path.write_bytes(_traced_dump())
    out = subprocess.run([oracle_python(), str(TOOL), "run", str(path)], capture_output=True,
                         text=True, timeout=300, check=True,
                         env={"MEGENGINE_INTERP_ASYNC_LEVEL": "0", "PATH": "/usr/bin:/bin"})
    _check_report(json.loads(out.stdout.strip().splitlines()[-1]))


def test_passes_never_fold_draws() -> None:
    graph = Graph()
    ones = graph.add_const(np.ones((4,), np.float32))
    (g,) = graph.add_op(GammaRNG(seed=1), [ones, graph.add_const(np.ones((4,), np.float32))])
    (u,) = graph.add_op(UniformRNG(seed=1, shape=(4,)), [])
    graph.outputs = [g, u]
    run_passes(graph, ["fold_constants"])
    assert [type(n.op) for n in graph.ops()[-2:]] in ([GammaRNG, UniformRNG],
                                                     [UniformRNG, GammaRNG])


def test_eager_errors_name_the_op() -> None:
    with pytest.raises(TypeError, match="UniformRNG: dtype must be a float type"):
        apply(UniformRNG(dtype="int32", shape=(2,)))
    with pytest.raises(ValueError, match="UniformRNG: the shape must hold non-negative"):
        apply(UniformRNG(shape=(-1,)))
    with pytest.raises(ValueError, match="GammaRNG: parameters must be > 0"):
        apply(GammaRNG(), mge.tensor([1.0, -1.0]), mge.tensor([1.0, 1.0]))


def test_each_op_type_draws_its_own_stream_of_a_handle() -> None:
    # MegEngine keeps one seeded dnn operator per (handle, op type): uniform draws do not
    # move normal's stream, and each type's first draw is what a graph node seeded with
    # the same seed gives
    from mge.ops.random.numpy_kernels import node_generator

    mge.random.seed(11)
    mge.random.uniform(size=(5,))
    n1 = mge.random.normal(size=(6,)).numpy()
    mge.random.seed(11)
    n2 = mge.random.normal(size=(6,)).numpy()
    np.testing.assert_array_equal(n1, n2)
    mge.random.seed(12)
    mge.random.normal(size=(3,))
    u = mge.random.uniform(size=(4,)).numpy()
    node = node_generator(UniformRNG(seed=12, shape=(4,)))
    np.testing.assert_array_equal(u, node.random((4,), dtype=np.float32))


@pytest.mark.parametrize("symbolic", [True, False])
def test_traced_calls_draw_what_the_dump_draws(symbolic: bool) -> None:
    # MegEngine runs a symbolic first call, and every later call, as the compiled graph,
    # whose random nodes own generators seeded with their seed (MegEngine's
    # test_network_node test_random); an eager first call draws from the handle
    from mge.utils.comp_graph_tools import GraphInference

    @trace(symbolic=symbolic, capture_as_const=True)
    def fwd():
        return mge.random.uniform(size=(2, 2)), mge.random.normal(size=(1, 3, 3))

    mge.random.seed(5)
    mge.random.normal(size=(4,))  # moves the eager stream only
    calls = [[t.numpy() for t in fwd()] for _ in range(3)]
    buf = io.BytesIO()
    fwd.dump(buf, output_names=["u", "n"], optimize_for_inference=False)
    graph = GraphInference(io.BytesIO(buf.getvalue()))
    runs = [list(graph.run().values()) for _ in range(3)]
    graph_calls = calls if symbolic else calls[1:]
    for call, run in zip(graph_calls, runs, strict=False):
        for got, want in zip(call, run, strict=True):
            np.testing.assert_array_equal(got, want)
    if not symbolic:
        assert not np.array_equal(calls[0][1], runs[0][1])  # from the moved eager stream
