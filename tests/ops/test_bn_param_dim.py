"""BatchNorm's ``param_dim`` follows MegEngine 1.13: the params' shape decides which dims
are normalized (``DIM_11HW`` with ``(1, C, 1, 1)`` params is per channel) and
``param_dim`` names only the channel dim they must keep. Goldens made by the oracle in
``tests/fixtures/bn_param_dim`` (``gen_oracle.py``): eager cases with gradients, and
MegEngine's ``.mge`` files (FBS_V2 and v1) of ``DIM_11HW`` graphs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

import mge
from mge.autodiff import GradManager
from mge.core.apply import apply
from mge.core.opdef import TensorInfo
from mge.graph import Graph
from mge.ops.nn import BatchNormBackward, BatchNormForward
from mge.runtime.executor import Executor
from mge.serialization.mge_graph import dump_graph, load_graph
from tests.lite.running import lite_outputs
from tests.oracle import requires_oracle, run_in_megengine

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bn_param_dim"
_TOL = {"rtol": 1e-5, "atol": 2e-5}


def _cases() -> list[dict]:
    with np.load(FIXTURES / "eager.npz") as z:
        return json.loads(str(z["__meta__"]))


def _arrays(cid: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "eager.npz") as z:
        return {k.split("__", 1)[1]: z[k] for k in z.files if k.startswith(cid + "__")}


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["id"])
def test_eager_matches_megengine(case: dict, each_backend: str) -> None:
    a = _arrays(case["id"])
    op = BatchNormForward(param_dim=case["param_dim"], fwd_mode=case["fwd_mode"],
                          avg_factor=case["avg_factor"], epsilon=case["epsilon"])
    tensors = [mge.tensor(a[f"in{k}"]) for k in range(case["nr_inputs"])]
    gm = GradManager().attach(tensors[:3]) if case["grad"] else None
    if gm is not None:
        with gm:
            outs = apply(op, *tensors)
            gm.backward(outs[-1], mge.tensor(a["dy"]))
    else:
        outs = apply(op, *tensors)
    for k, out in enumerate(_megengine_outputs(op, outs)):
        if out is not None:
            np.testing.assert_allclose(out.numpy(), a[f"out{k}"], **_TOL, err_msg=f"output {k}")
    if gm is not None:
        for name, t in zip(("dx", "dscale", "dbias"), tensors, strict=False):
            np.testing.assert_allclose(t.grad.numpy(), a[name], rtol=1e-4, atol=1e-4,
                                       err_msg=name)


def _megengine_outputs(op: BatchNormForward, outs: tuple) -> list:
    """mge's outputs in the order of MegEngine's eager ones, without the reserve: all but
    the reserve with running stats, else ``save_mean, save_variance, y``. In ``INFERENCE``
    MegEngine hands back its ``variance`` input as the second, mge ``1 / sqrt(var + eps)``
    (None: not compared)."""
    if op.needs_stats(5 if outs[0].shape != (0,) else 3):
        return [outs[k] for k in (0, 1, 2, 3, 5)]
    return [outs[2], None if op.fwd_mode == "INFERENCE" else outs[3], outs[5]]


def _npz(name: str) -> tuple[np.ndarray, list[np.ndarray]]:
    with np.load(FIXTURES / f"{name}.npz") as z:
        return z["in:x"], [z[f"out:{i}"] for i in range(len(z.files) - 1)]


@pytest.mark.parametrize("suffix", ["", ".v1"])
@pytest.mark.parametrize("name", ["bn_11hw_infer", "bn_11hw_train"])
def test_megengine_files_run_in_mge(name: str, suffix: str) -> None:
    x, want = _npz(name)
    path = FIXTURES / f"{name}{suffix}.mge"
    loaded = load_graph(str(path)).graph
    (bn,) = [n.op for n in loaded.ops() if isinstance(n.op, BatchNormForward)]
    assert bn.param_dim == "DIM_11HW"
    for backend in mge.available_backends():
        got = Executor(loaded, backend).run(x=x)
        for k, (out, ref) in enumerate(zip(got, want, strict=True)):
            np.testing.assert_allclose(out, ref, **_TOL, err_msg=f"{backend} output {k}")
    lite = list(lite_outputs(path, {"x": x}).values())
    for k, (out, ref) in enumerate(zip(lite, want, strict=True)):
        np.testing.assert_allclose(out, ref, **_TOL, err_msg=f"lite output {k}")


def _bn_11hw_graph(fwd_mode: str) -> Graph:
    rng = np.random.RandomState(5)
    g = Graph()
    x = g.add_input("x", (2, 3, 4, 5), np.dtype("float32"))
    params = [g.add_const((rng.rand(1, 3, 1, 1) + 0.5).astype("float32")) for _ in range(4)]
    outs = g.add_op(BatchNormForward(param_dim="DIM_11HW", fwd_mode=fwd_mode, epsilon=1e-5,
                                     avg_factor=0.1), [x, *params])
    g.outputs = [outs[5]] if fwd_mode == "INFERENCE" else [outs[0], outs[1], outs[5]]
    return g


@pytest.mark.parametrize("fmt", ["FBS_V2", "FBS"])
@pytest.mark.parametrize("mode", ["INFERENCE", "TRAINING"])
def test_mge_writes_and_reads_dim_11hw(fmt: str, mode: str) -> None:
    g = _bn_11hw_graph(mode)
    x = np.random.RandomState(6).randn(2, 3, 4, 5).astype("float32")
    want = Executor(g, "numpy").run(x=x)
    again = load_graph(io.BytesIO(dump_graph(g, dump_format=fmt)[0])).graph
    (bn,) = [n.op for n in again.ops() if isinstance(n.op, BatchNormForward)]
    assert bn.param_dim == "DIM_11HW"
    for out, ref in zip(Executor(again, "numpy").run(x=x), want, strict=True):
        np.testing.assert_array_equal(out, ref)


@requires_oracle
@pytest.mark.parametrize("fmt", ["FBS_V2", "FBS"])
def test_megengine_runs_mge_dim_11hw(fmt: str, tmp_path: Path) -> None:
    g = _bn_11hw_graph("INFERENCE")
    g.outputs[0].name = "y"
    x = np.random.RandomState(7).randn(2, 3, 4, 5).astype("float32")
    path = tmp_path / "bn.mge"
    path.write_bytes(dump_graph(g, dump_format=fmt, keep_var_name=2)[0])
    (got,) = run_in_megengine(path, {"x": x}, runner="graph").values()
    np.testing.assert_allclose(got, Executor(g, "numpy").run(x=x)[0], **_TOL)


_F32 = np.dtype("float32")


@pytest.mark.parametrize(("param_dim", "pshape", "match"), [
    ("DIM_11HW", (1, 1, 4, 5), r"DIM_11HW params must have x's 3 channels in dim 1"),
    ("DIM_1C11", (1, 1, 1, 1), r"DIM_1C11 params must have x's 3 channels in dim 1"),
    ("DIM_111C", (1, 3, 1, 1), r"DIM_111C params must have x's 5 channels in dim 3"),
    ("DIM_1C11", (1, 3, 2, 1), r"each dim 1 or x's"),
    ("DIM_1C11", (3, 1, 1), r"each dim 1 or x's"),
])
def test_megengine_refusals(param_dim: str, pshape: tuple, match: str) -> None:
    """MegEngine 1.13 refuses these too (eagerly and in a graph: the channel check of its
    ``BatchNormForward``), and its kernel would read out of bounds for the last two."""
    x = mge.tensor(np.zeros((2, 3, 4, 5), np.float32))
    p = mge.tensor(np.ones(pshape, np.float32))
    with pytest.raises(ValueError, match=match):
        apply(BatchNormForward(param_dim=param_dim, fwd_mode="INFERENCE"), x, p, p, p, p)


def test_backward_infers_the_params_shape() -> None:
    x, p = TensorInfo((2, 3, 4, 5), _F32), TensorInfo((1, 3, 1, 1), _F32)
    outs = BatchNormBackward(param_dim="DIM_11HW").infer([x, x, p, p, p, TensorInfo(
        (0,), np.dtype("uint8"))])
    assert [o.shape for o in outs] == [(1, 3, 1, 1), (1, 3, 1, 1), (2, 3, 4, 5)]
