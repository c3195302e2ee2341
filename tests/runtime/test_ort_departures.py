"""mge never hands onnxruntime an op that the installed version computes wrongly: the
plan runs on another backend (warned), the eager onnxruntime backend on the numpy kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from mge.backends import get_backend  # noqa: E402
from mge.backends.onnxruntime import departures  # noqa: E402
from mge.backends.onnxruntime.departures import departures_in  # noqa: E402
from mge.graph.ir import Graph  # noqa: E402
from mge.ops.reduce import TopK  # noqa: E402
from mge.runtime.plan import Plan, PlanOptions  # noqa: E402

ROW = np.array([[np.nan, 3.0, -np.inf, 7.0, 1.0]], np.float32)
OP = TopK(mode="VALUE_IDX_SORTED", k=-3)  # the 3 largest: NaN counts as the largest


def test_departures_by_version() -> None:
    assert [d.op for d in departures_in(["Erf", "TopK", "Relu"], (1, 23, 2))] == \
        ["TopK", "Erf"]
    assert [d.op for d in departures_in(["Erf", "TopK"], (1, 28, 0))] == ["TopK"]
    assert departures_in(["Erf", "TopK", "Sqrt", "BitShift"], (1, 32, 0)) == []


@pytest.fixture
def old_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the installed onnxruntime is 1.23.2 (the newest for Python 3.10)."""
    monkeypatch.setattr(departures, "installed_version", lambda: (1, 23, 2))


def test_plan_leaves_a_wrong_op_to_another_backend(old_onnxruntime: None) -> None:
    graph = Graph()
    x = graph.add_input("x", ROW.shape, ROW.dtype)
    graph.outputs = graph.add_op(OP, [x])
    want = get_backend("numpy").run(OP, [ROW])
    with pytest.warns(UserWarning, match=r"wrong results: onnxruntime .*TopK orders NaN"):
        got = Plan(graph, PlanOptions(backend="onnxruntime")).run_feeds([ROW])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.reshape(w.shape), w)
    assert np.isnan(got[0].ravel()[0])


def test_eager_backend_runs_the_reference_kernel(old_onnxruntime: None) -> None:
    backend = get_backend("onnxruntime")
    got = backend.run(OP, [ROW])
    want = get_backend("numpy").run(OP, [ROW])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
