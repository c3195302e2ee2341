"""The gradients of deformable_conv2d, local_conv2d, local_response_norm, general_norm and
cond_take against MegEngine 1.13's own (``GradManager``; golden file made by
``tests/fixtures/layer_grads/gen_oracle.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.autodiff import GradManager
from tests.oracle import golden_arrays, golden_cases

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "layer_grads" / "oracle.npz"


@pytest.mark.parametrize("case", golden_cases(GOLDEN), ids=lambda c: c["id"])
def test_gradients_match_megengine(case: dict) -> None:
    got = golden_arrays(GOLDEN, case["id"])
    n_in = sum(k.startswith("in") for k in got)
    tensors = [mge.tensor(got[f"in{k}"]) for k in range(n_in)]
    func = F
    for part in case["fn"].split("."):
        func = getattr(func, part)
    named = case["named"]
    first = n_in - len(named)
    gm = GradManager().attach([tensors[k] for k in case["float_inputs"]])
    with gm:
        out = func(*tensors[:first], **dict(zip(named, tensors[first:], strict=True)),
                   **case["kwargs"])
        out = out[0] if isinstance(out, (tuple, list)) else out
        gm.backward(out, mge.tensor(got["dy"]))
    for k in case["float_inputs"]:
        want = got[f"grad{k}"]
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(tensors[k].grad.numpy(), want, rtol=1e-4,
                                   atol=1e-5 * scale, err_msg=f"input {k}")
