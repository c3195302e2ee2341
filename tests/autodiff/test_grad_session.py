"""``mge.core.autodiff.grad.Grad`` (MegEngine's ``core.autodiff.grad.Grad``) used directly."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.core.autodiff.grad import Grad


def test_backward_takes_a_tensor_or_a_list() -> None:
    x = mge.tensor(np.array([1.0, 2.0, 3.0], np.float32))
    got: list[np.ndarray] = []
    for as_list in (False, True):
        with Grad("g") as grad:
            grad.wrt(x, callback=lambda dx: got.append(dx.numpy()))
            y = x * x
            dy = F.ones_like(y)
            grad([y], [dy]) if as_list else grad(y, dy)
    np.testing.assert_allclose(got[0], [2.0, 4.0, 6.0])
    np.testing.assert_allclose(got[1], got[0])


def test_backward_broadcasts_a_broadcastable_gradient() -> None:
    x = mge.tensor(np.array([1.0, -1.0], np.float32))
    got: list[np.ndarray] = []
    with Grad() as grad:
        grad.wrt(x, callback=lambda dx: got.append(dx.numpy()))
        grad(F.relu(x * 2), mge.tensor([1.0]))  # MegEngine's test_elemwise_relu
    np.testing.assert_allclose(got[0], [2.0, 0.0])
    with Grad() as grad, pytest.raises(ValueError, match="does not match"):
        grad.wrt(x)
        grad(x * 2, mge.tensor([1.0, 2.0, 3.0]))

