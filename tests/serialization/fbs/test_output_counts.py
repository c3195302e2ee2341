"""The outputs a ``.mge`` file lists for an operator follow MegEngine 1.13, which leaves
out the outputs it marks volatile: BatchNorm lists its running statistics only in
``TRAINING`` with ``mean, var`` inputs (6 outputs, else 4), SVD without ``compute_uv``
lists only ``s``.  Goldens in ``tests/fixtures/outcount`` were made by the oracle
(``oracle_make_outcounts.py``, ``oracle_dump_multi_outputs.py``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from mge.graph import Graph
from mge.ops.nn import BatchNormForward
from mge.ops.nn.svd import SVD
from mge.ops.shape import CondTake
from mge.runtime.executor import Executor
from mge.serialization.fbs import read_model
from mge.serialization.mge_graph import dump_graph, load_graph

from .conftest import REPO, run_models

FIXTURES = REPO / "tests" / "fixtures" / "outcount"
OPS = sorted((FIXTURES / "ops").glob("*.mge"))
_SOURCES = {"Host2DeviceCopy", "ImmutableTensor", "SharedDeviceTensor"}
#: MegEngine files mge cannot load as graphs, and why
_NOT_LOADED = {
    "check_non_finite": "'CheckNonFinite' is not supported by mge",
    "dropout": "'Dropout' is not supported by mge",
    "cond_take": "its output length depends on the mask's values",
}


def _counts(data: bytes) -> list[tuple[str, int]]:
    model = read_model(data, "case.mge")
    return [(op.type, len(op.outputs)) for op in model.operators if op.type not in _SOURCES]


def _outputs(npz: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    with np.load(npz) as z:
        return z["in:x"], [z[f"out:{i}"] for i in range(len(z.files) - 1)]


@pytest.mark.parametrize("path", OPS, ids=lambda p: p.stem)
def test_mge_lists_the_outputs_megengine_lists(path: Path) -> None:
    data = path.read_bytes()
    if path.stem in _NOT_LOADED:
        with pytest.raises(Exception, match=_NOT_LOADED[path.stem]):
            load_graph(io.BytesIO(data))
        return
    again, _ = dump_graph(load_graph(io.BytesIO(data)).graph)
    assert _counts(again) == _counts(data)


def test_cond_take_lists_two_outputs() -> None:
    (want,) = _counts((FIXTURES / "ops" / "cond_take.mge").read_bytes())
    g = Graph()
    x, m = g.add_input("x", (6,), np.dtype("float32")), g.add_input("m", (6,), np.dtype(bool))
    g.outputs = g.add_op(CondTake(size=3), [x, m])
    assert _counts(dump_graph(g)[0]) == [want] == [("CondTake", 2)]


@pytest.mark.parametrize("name", ["bn_training", "svd_values"])
@pytest.mark.parametrize("suffix", ["", ".v1"])
def test_megengine_files_run_in_mge(name: str, suffix: str) -> None:
    x, want = _outputs(FIXTURES / f"{name}.npz")
    loaded = load_graph(str(FIXTURES / f"{name}{suffix}.mge"))
    got = Executor(loaded.graph, "numpy").run(x=x)
    assert [v.name for v in loaded.graph.outputs] == (
        ["mean", "var", "y"] if name == "bn_training" else ["s"])
    for k, (out, ref) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-6, err_msg=f"output {k}")


def _bn_graph(stats_input: bool = False) -> Graph:
    """``BatchNorm`` in ``TRAINING`` with running stats: constants (or an input ``m``)."""
    rng = np.random.RandomState(1)
    g = Graph()
    x = g.add_input("x", (2, 3, 4, 4), np.dtype("float32"))
    params = [g.add_const((rng.rand(1, 3, 1, 1) + 0.5).astype("float32")) for _ in range(4)]
    if stats_input:
        params[2] = g.add_input("m", (1, 3, 1, 1), np.dtype("float32"))
    op = BatchNormForward(fwd_mode="TRAINING", param_dim="DIM_1C11", avg_factor=0.1,
                          epsilon=1e-5)
    outs = g.add_op(op, [x, *params])
    g.outputs = [outs[0], outs[1], outs[5]]
    for v, n in zip(g.outputs, ("mean", "var", "y"), strict=True):
        v.name = n
    return g


def _svd_graph() -> Graph:
    g = Graph()
    x = g.add_input("x", (2, 4, 3), np.dtype("float32"))
    g.outputs = [g.add_op(SVD(compute_uv=False), [x])[1]]
    g.outputs[0].name = "s"
    return g


@pytest.mark.parametrize("fmt", ["FBS_V2", "FBS"])
def test_mge_writes_running_stats_as_shared_tensors(fmt: str) -> None:
    data, _ = dump_graph(_bn_graph(), dump_format=fmt)
    model = read_model(data, "bn.mge")
    (bn,) = [op for op in model.operators if op.type == "BatchNormV1"]
    kinds = [model.operators[_owner(model, v)].type for v in bn.inputs]
    assert len(bn.outputs) == 6
    assert kinds[3:] == ["SharedDeviceTensor", "SharedDeviceTensor"]
    x = np.random.RandomState(2).randn(2, 3, 4, 4).astype("float32")
    want = Executor(_bn_graph(), "numpy").run(x=x)
    got = Executor(load_graph(io.BytesIO(data)).graph, "numpy").run(x=x)
    for out, ref in zip(got, want, strict=True):
        np.testing.assert_array_equal(out, ref)


def _owner(model, var: int) -> int:  # noqa: ANN001
    return next(k for k, op in enumerate(model.operators) if var in op.outputs)


def test_computed_running_stats_are_refused() -> None:
    with pytest.raises(ValueError, match=r"input 3 of BatchNormForward .* shared tensor"):
        dump_graph(_bn_graph(stats_input=True))


@pytest.mark.oracle
def test_megengine_runs_mge_dumps(oracle_python: str, tmp_path: Path) -> None:
    rng = np.random.RandomState(3)
    cases = {  # name: (graph, input)
        "bn_scratch": (_bn_graph(), rng.randn(2, 3, 4, 4).astype("float32")),
        "svd_scratch": (_svd_graph(), rng.randn(2, 4, 3).astype("float32")),
    }
    for name in ("bn_training", "svd_values"):
        cases[name] = (load_graph(str(FIXTURES / f"{name}.mge")).graph,
                       _outputs(FIXTURES / f"{name}.npz")[0])
    jobs, wants = [], []
    for name, (g, x) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **{"in:x": x})
        want = Executor(g, "numpy").run(x=x)
        for fmt in ("FBS_V2", "FBS"):
            model = tmp_path / f"{name}.{fmt}.mge"
            model.write_bytes(dump_graph(g, dump_format=fmt, keep_var_name=2)[0])
            jobs.append({"model": str(model), "inputs": str(tmp_path / f"{name}.npz"),
                         "outputs": str(tmp_path / f"{name}.{fmt}.out.npz")})
            wants.append(want)
    reports = run_models(oracle_python, jobs, tmp_path)
    assert len(reports) == len(jobs)
    for job, report, want in zip(jobs, reports, wants, strict=True):
        assert "error" not in report, report
        with np.load(job["outputs"]) as z:
            got = [z[f"out:{i}"] for i in range(len(z.files))]
        assert len(got) == len(want), job["model"]
        for k, (out, ref) in enumerate(zip(got, want, strict=True)):
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-6,
                                       err_msg=f"{job['model']} output {k}")
