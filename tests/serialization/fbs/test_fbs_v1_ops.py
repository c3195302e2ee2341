"""Every op of the op table written as FBS (v1) reads back as its FBS_V2 dump reads (so
the v1 output counts agree with what mge's writer lists), or is refused clearly."""

from __future__ import annotations

import pytest

from mge.serialization.fbs import read_model
from mge.serialization.mge_graph import dump_graph
from tests.ops.test_op_table import CASES
from tests.serialization.test_mge_graph import _case_graph


def _ops(data: bytes) -> list[tuple]:
    model = read_model(data, "case.mge")
    return [(op.type, op.inputs, op.outputs, op.params, op.tensors) for op in model.operators]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_op_writes_as_v1(case) -> None:  # noqa: ANN001
    g, _ = _case_graph(case)
    if case.op.unwritable():
        pytest.skip("in-memory-only op")
    v2, _ = dump_graph(g)
    v1, _ = dump_graph(g, dump_format="FBS")
    strip = [(t, i, o, p, [x.data is None for x in ts]) for t, i, o, p, ts in _ops(v2)]
    assert [(t, i, o, p, [x.data is None for x in ts]) for t, i, o, p, ts in _ops(v1)] == strip
