"""A plan's engine without the checks around it: ``Plan.unchecked`` (onnxruntime's
session called directly; ``run_feeds`` for other backends) and ``Plan.io_binding``
(inputs bound to arrays with no copy, outputs written into the same buffers)."""

from __future__ import annotations

import numpy as np
import pytest

from mge.runtime.plan import PlanCache, PlanOptions

from .binding_checks import assert_binding_outlives_its_caller, assert_binds_in_place
from .whole_graph import fixture_model

pytest.importorskip("onnxruntime")


def test_this_onnxruntime_binds_inputs_in_place() -> None:
    from mge.runtime.ort_binding import binds_in_place

    assert binds_in_place()


@pytest.mark.parametrize("backend", ["numpy", "onnxruntime"])
def test_unchecked_computes_what_run_feeds_does(backend: str) -> None:
    graph, feeds = fixture_model()
    plan = PlanCache(graph, PlanOptions(backend=backend, threads=1)).plan()
    call, keys, outputs = plan.unchecked()
    assert len(keys) == len(plan.inputs) and len(outputs) == len(plan.outputs)
    got = call(outputs, dict(zip(keys, feeds, strict=True)), None)
    for g, want in zip(got, plan.run_feeds(feeds), strict=True):
        np.testing.assert_array_equal(np.asarray(g, want.dtype), want)


def test_io_binding_writes_the_same_buffers_and_reads_inputs_in_place() -> None:
    graph, feeds = fixture_model()
    plan = PlanCache(graph, PlanOptions(backend="onnxruntime", threads=1)).plan()
    assert PlanCache(graph, PlanOptions(backend="numpy")).plan().io_binding([]) is None
    binding, keys, arrays = assert_binds_in_place(plan, feeds)
    with pytest.raises(ValueError, match="C-contiguous"):
        binding.bind(keys[0], np.asfortranarray(arrays[0]) if arrays[0].ndim > 1 else
                     np.zeros(2 * arrays[0].size, arrays[0].dtype)[::2])


def test_the_binding_keeps_its_arrays_and_its_run_keeps_the_binding() -> None:
    """The binding keeps the arrays it was given and its ``run`` keeps the binding
    (see ``assert_binding_outlives_its_caller``)."""
    graph, feeds = fixture_model()
    plan = PlanCache(graph, PlanOptions(backend="onnxruntime", threads=1)).plan()
    assert_binding_outlives_its_caller(plan, feeds)
