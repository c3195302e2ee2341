"""Gradients of warp_perspective, remap, RoI align/pooling, top-k, sort, cumsum and
repeated-index indexing against
real MegEngine 1.13's (``tests/fixtures/train/grad_oracle.npz``, made by
``gen_grad_oracle.py`` from the case table ``grad_cases.py`` both frameworks run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.autodiff import GradManager
from mge.backends import available_backends, get_default_backend, set_default_backend

HERE = Path(__file__).parents[1] / "fixtures" / "train"
_spec = importlib.util.spec_from_file_location("grad_cases", HERE / "grad_cases.py")
grad_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grad_cases)
GOLDEN = np.load(HERE / "grad_oracle.npz")
NAMES = sorted(grad_cases.cases(F, mge.tensor))


@pytest.fixture(params=[b for b in ("numpy", "torch") if b in available_backends()])
def backend(request):
    previous = get_default_backend()
    set_default_backend(request.param)
    yield request.param
    set_default_backend(previous)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_megengine(name: str, backend: str) -> None:
    fn, inputs, wrt = grad_cases.cases(F, mge.tensor)[name]
    gm = GradManager().attach([inputs[k] for k in wrt])
    with gm:
        y = fn(*inputs)
        gm.backward(F.sum(y * mge.tensor(GOLDEN[f"{name}__weight"])))
    for k in wrt:
        np.testing.assert_allclose(inputs[k].grad.numpy(), GOLDEN[f"{name}__grad{k}"],
                                   rtol=1e-5, atol=1e-5, err_msg=f"{name}: input {k}")
