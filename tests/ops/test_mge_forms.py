"""Every op-table case with a ``.mge`` form survives a write and read as the same op, and
real MegEngine 1.13 reads and runs the ``PowC`` this writes (its ``.mge`` layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mge.core.opdef import MgeForm
from mge.graph.ir import Graph
from mge.ops.elemwise import PowC
from mge.runtime.plan import Plan, PlanOptions
from mge.serialization.mge_graph import dump_graph, graph_from_bytes
from tests.oracle import requires_oracle, run_in_megengine

from .optable import OpCase, rand
from .test_op_table import CASES

#: cases whose op reads back through another op's form or with extra params (the
#: reader normalises them), or that hold no data the writer can keep
WRITABLE = [c for c in CASES if isinstance(c.op.mge_form, MgeForm) and c.op.unwritable() is None
            and all(x.size for x in c.inputs)]


def _graph(case: OpCase) -> Graph:
    """``case.op`` on graph inputs (float/data) and constants (the rest, e.g. indices)."""
    graph = Graph()
    inputs = [graph.add_input(f"x{k}", x.shape, x.dtype) if k == 0 else graph.add_const(x)
              for k, x in enumerate(case.inputs)]
    graph.outputs = graph.add_op(case.op, inputs)
    return graph


@pytest.mark.parametrize("case", WRITABLE, ids=lambda c: c.id)
def test_op_round_trips_through_mge(case: OpCase) -> None:
    try:
        data, _ = dump_graph(_graph(case))
    except ValueError as exc:  # a case the file format cannot hold (0-d output, ...)
        pytest.skip(f"{case.id}: {exc}")
    loaded = graph_from_bytes(data).graph
    if any(type(n.op) is type(case.op) for n in loaded.ops()):
        return
    # the reader folded it into a constant (a static value such as a shape): same value
    assert len(loaded.outputs) == 1, f"{case.id}: {type(case.op).__name__} not read back"
    (want,) = Plan(_graph(case), PlanOptions(backend="numpy")).run_feeds(case.inputs[:1])
    (got,) = Plan(loaded, PlanOptions(backend="numpy")).run_feeds(case.inputs[:1])
    np.testing.assert_array_equal(got, want)


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
