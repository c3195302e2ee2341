"""An OpenVINO plan's IO binding (``Plan.io_binding``): inputs read in place from the
arrays bound, outputs written into the same buffers every run, arrays OpenVINO cannot
share refused, and the bound arrays kept alive by the binding."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino plan backend needs openvino "
                    "(pip install 'mge[openvino]')")

from mge.runtime.plan import Plan, PlanCache, PlanOptions  # noqa: E402

from .binding_checks import assert_binding_outlives_its_caller, assert_binds_in_place  # noqa: E402
from .whole_graph import fixture_model  # noqa: E402


def test_this_openvino_binds_inputs_in_place() -> None:
    from mge.runtime.openvino_binding import binds_in_place

    assert binds_in_place()


def _plan() -> tuple[Plan, list[np.ndarray]]:
    graph, feeds = fixture_model("resnet18_w4_fuse")
    return PlanCache(graph, PlanOptions(backend="openvino", threads=1)).plan(), feeds


def test_io_binding_writes_the_same_buffers_and_reads_inputs_in_place() -> None:
    assert_binds_in_place(*_plan())


def test_arrays_openvino_cannot_share_are_refused() -> None:
    plan, feeds = _plan()
    binding = plan.io_binding([np.empty(v.shape, v.dtype) for v in plan.outputs])
    _, keys, _ = plan.unchecked()
    read_only = np.array(feeds[0], order="C")
    read_only.setflags(write=False)
    with pytest.raises(ValueError, match="writeable"):
        binding.bind(keys[0], read_only)
    with pytest.raises(ValueError, match="C-contiguous"):
        binding.bind(keys[0], np.repeat(feeds[0], 2, axis=-1)[..., ::2])
    with pytest.raises(ValueError, match="output 0: .*C-contiguous"):
        plan.io_binding([np.empty((*v.shape[:-1], 2 * v.shape[-1]), v.dtype)[..., ::2]
                         for v in plan.outputs])


def test_the_binding_keeps_its_arrays_and_its_run_keeps_the_binding() -> None:
    """The binding keeps the arrays it was given and its ``run`` keeps the binding
    (see ``assert_binding_outlives_its_caller``)."""
    assert_binding_outlives_its_caller(*_plan())
