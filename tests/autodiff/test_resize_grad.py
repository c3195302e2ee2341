"""``ResizeForward``'s gradient (NCHW, every mode, up and down) against central finite
differences of the numpy kernel in float64; NHWC refuses by name."""

from __future__ import annotations

import numpy as np
import pytest

import mge
from mge.autodiff import GradManager
from mge.backends import load_backend
from mge.core.apply import apply
from mge.ops.vision import ResizeForward


@pytest.mark.parametrize("imode", ["LINEAR", "NEAREST", "CUBIC"])
@pytest.mark.parametrize("dsize", [(7, 3), (2, 9)])
def test_resize_grad_matches_finite_differences(imode: str, dsize: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
    wv = rng.standard_normal((1, 2, *dsize)).astype(np.float32)
    op = ResizeForward(imode=imode, format="NCHW", dsize=dsize)
    x = mge.tensor(xv)
    gm = GradManager().attach([x])
    with gm:
        (y,) = apply(op, x)
        gm.backward(y, mge.tensor(wv))
    numpy = load_backend("numpy")

    def loss(v: np.ndarray) -> float:
        return float((numpy.run(op, [v]).astype(np.float64) * wv).sum())

    want, x64, h = np.zeros(xv.shape), xv.astype(np.float64), 1e-3
    for i in range(x64.size):
        up, down = x64.copy(), x64.copy()
        up.flat[i] += h
        down.flat[i] -= h
        want.flat[i] = (loss(up) - loss(down)) / (2 * h)
    np.testing.assert_allclose(x.grad.numpy(), want, atol=1e-3)


def test_resize_grad_refuses_nhwc_by_name() -> None:
    x = mge.tensor(np.zeros((1, 4, 4, 2), np.float32))
    gm = GradManager().attach([x])
    with gm, pytest.raises(NotImplementedError, match="ResizeForward.*NCHW only"):
        (y,) = apply(ResizeForward(format="NHWC", dsize=(2, 2)), x)
        gm.backward(y, mge.tensor(np.ones((1, 2, 2, 2), np.float32)))
