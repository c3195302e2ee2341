"""``F.zeros/ones/full/*_like`` and ``F.arange`` of a traced ``x.shape`` follow the input
size in the dumped graph (MegEngine's broadcast of the value to the ``GetVarShape`` shape),
instead of baking the traced size into a constant."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.graph.interpreter import Executor
from mge.jit import trace
from mge.runtime.specialize import specialize
from mge.serialization.fbs import read_model
from mge.serialization.mge_graph import load_graph
from tests.oracle import requires_oracle, run_in_megengine

CASES: dict[str, Callable[[mge.Tensor], mge.Tensor]] = {
    "zeros": lambda x: F.zeros(x.shape) + x,
    "ones": lambda x: F.ones(x.shape[1]) * x,
    "full": lambda x: F.full(x.shape, 2.0) * x,
    "full_mixed": lambda x: F.full((x.shape[0], 1), 3.0) + x,
    "zeros_like": lambda x: F.zeros_like(x) + x,
    "ones_like": lambda x: F.ones_like(x) * 2 - x,
    "full_like": lambda x: F.full_like(x, 0.5) * x,
    # a read value would bake the traced count: x + 3 at every size (MegEngine: 0+1+...)
    "arange": lambda x: x + F.arange(x.shape[1]).sum(),
    "arange_int": lambda x: x * F.arange(x.shape[1], dtype="int32").astype("float32"),
}


def _dump(fn: Callable[[mge.Tensor], mge.Tensor]) -> bytes:
    f = trace(fn, symbolic=True, capture_as_const=True)
    f(mge.tensor(np.ones((2, 3), "float32")))
    buf = io.BytesIO()
    f.dump(buf, arg_names=["x"])
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(CASES))
def test_dumped_creation_follows_the_input_size(name: str) -> None:
    fn = CASES[name]
    data = _dump(fn)
    assert "Broadcast" in [op.type for op in read_model(data, "m").operators]
    graph = load_graph(io.BytesIO(data)).graph
    x = np.random.default_rng(0).random((4, 5)).astype("float32")
    (out,) = Executor(specialize(graph, {"x": (4, 5)})).run(x)
    np.testing.assert_array_equal(out, fn(mge.tensor(x)).numpy())


def test_eager_creation_unchanged() -> None:
    assert F.full((2,), 6).numpy().tolist() == [6, 6]
    assert F.zeros_like(mge.tensor([[1, 2]])).numpy().dtype == np.int32


@requires_oracle
@pytest.mark.parametrize("name", ["full", "arange_int"])
def test_megengine_runs_the_dump_at_another_size(name: str, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / f"{name}.mge"
    path.write_bytes(_dump(CASES[name]))
    x = np.random.default_rng(1).random((4, 5)).astype("float32")
    (out,) = run_in_megengine(path, {"x": x}, runner="graph").values()
    np.testing.assert_array_equal(out, CASES[name](mge.tensor(x)).numpy())
