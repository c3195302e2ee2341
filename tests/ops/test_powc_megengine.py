"""Real MegEngine 1.13 reads and runs the ``PowC`` mge writes (its ``.mge`` layout); every
op-table case round-trips through ``.mge`` in tests/serialization/test_mge_graph.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mge.graph.ir import Graph
from mge.ops.elemwise import PowC
from mge.runtime.plan import Plan, PlanOptions
from mge.serialization.mge_graph import dump_graph, graph_from_bytes
from tests.oracle import requires_oracle, run_in_megengine

from .optable import rand


@requires_oracle
def test_megengine_runs_our_powc(tmp_path: Path) -> None:
    x = rand(3, 4, low=-2, high=2)
    graph = Graph()
    (cube,) = graph.add_op(PowC(exp=3.0), [graph.add_input("x", x.shape, x.dtype)])
    (root,) = graph.add_op(PowC(exp=0.5), [cube])
    graph.outputs = [cube, root]
    cube.name, root.name = "cube", "root"
    path = tmp_path / "powc.mge"
    path.write_bytes(dump_graph(graph)[0])
    got = run_in_megengine(path, {"x": x}, runner="graph")
    ours = Plan(graph_from_bytes(path.read_bytes()).graph, PlanOptions(backend="numpy")).run(x)
    np.testing.assert_allclose(got["cube"], x ** 3, rtol=1e-6)
    np.testing.assert_allclose(got["root"], ours[1], rtol=1e-6, equal_nan=True)
    assert np.isnan(got["root"]).any()  # negative bases: NaN, as ours
