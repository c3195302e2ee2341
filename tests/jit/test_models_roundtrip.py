"""ResNet-18, ShuffleNetV2 and MobileNetV2 dumped with each option set load back in mge
and reproduce the eager outputs (1e-4; float16 options within 1e-2 of the output scale)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mge.graph.interpreter import Executor

from .model_dumps import MODELS, OPTIONS, dump_and_load, make_traced


@pytest.fixture(scope="module", params=list(MODELS))
def traced(request):  # noqa: ANN001, ANN201
    return make_traced(request.param)


@pytest.mark.parametrize("option", list(OPTIONS))
def test_round_trip_reproduces_eager(traced, option: str) -> None:  # noqa: ANN001
    name, fun, x, expect = traced
    _, loaded = dump_and_load(fun, OPTIONS[option])
    loaded.graph.lint()
    (out,) = Executor(loaded.graph).run(data=x)
    assert out.dtype == np.float32 and out.shape == expect.shape
    tol = 1e-2 * max(1.0, float(np.abs(expect).max())) if "16" in option else 1e-4
    np.testing.assert_allclose(out, expect, atol=tol, rtol=0, err_msg=f"{name} {option}")
    counts = Counter(n.type for n in loaded.graph.ops())
    if option != "plain":
        assert "BatchNormForward" not in counts
    if option in ("fuse_nonlinearity", "nchw44", "fuse_z"):
        assert counts["ConvBiasForward"] > counts["ConvolutionForward"]
    if "16" in option:
        assert loaded.graph.inputs[0].dtype == np.float32
        assert loaded.output_vars_list[0].owner.type == "TypeCvt"
        assert loaded.output_vars_list[0].owner.inputs[0].dtype == np.float16
