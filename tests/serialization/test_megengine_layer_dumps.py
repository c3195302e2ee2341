"""MegEngine 1.13 dumps of layers whose operators need more than their own op: mge.lite
runs ``conv_transpose3d(output_padding=...)``, whose output shape MegEngine writes
through an ``Alloc``, and refuses ``cond_take`` (its output length follows the mask's
values) by name. Files and outputs: ``tests/fixtures/attention/gen_oracle.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mge.runtime.plan import available_plan_backends
from mge.serialization.fbs.errors import MgeFormatError
from mge.serialization.mge_graph import load_graph
from tests.lite.running import lite_outputs
from tests.oracle import golden_arrays

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "attention"


@pytest.mark.parametrize("backend", [b for b in available_plan_backends()
                                     if b in ("numpy", "torch", "onnxruntime")])
def test_conv_transpose3d_output_padding_through_alloc(backend: str) -> None:
    got = golden_arrays(FIXTURES / "oracle.npz", "alloc")
    kinds = {n.type for n in load_graph(str(FIXTURES / "alloc.mge")).graph.ops()}
    assert "Convolution3DBackwardData" in kinds
    (out,) = lite_outputs(FIXTURES / "alloc.mge", {"data": got["data"]}, backend).values()
    assert out.shape == got["out"].shape == (1, 3, 7, 4, 7)  # output_padding (1, 0, 1)
    np.testing.assert_allclose(out, got["out"], rtol=1e-5, atol=1e-5)


def test_cond_take_dump_is_refused_by_name() -> None:
    with pytest.raises(MgeFormatError, match=r"CondTake.*depends on the mask's values"):
        load_graph(str(FIXTURES / "cond_take.mge"))
