"""``megengine.functional.inplace._inplace_add_`` (YOLOX's SGD): ``dest = alpha * dest +
beta * delta`` in place, keeping the object (a parameter stays the optimizer's)."""

from __future__ import annotations

import numpy as np

import mge
from mge.functional.inplace import _inplace_add_


def test_inplace_add_updates_the_same_object() -> None:
    w = mge.Parameter(np.array([[1.0, -2.0]], np.float32))
    out = _inplace_add_(w, mge.tensor([[4.0, 8.0]]), alpha=0.5, beta=-0.25)
    assert out is w and isinstance(w, mge.Parameter)
    np.testing.assert_allclose(w.numpy(), [[-0.5, -3.0]])
    assert w.dtype == np.float32 and w.shape == (1, 2)


def test_inplace_add_takes_tensor_coefficients() -> None:
    v = mge.tensor([1.0, 2.0])
    _inplace_add_(v, mge.tensor([1.0, 1.0]), alpha=mge.tensor(2.0), beta=mge.tensor(3.0))
    np.testing.assert_allclose(v.numpy(), [5.0, 7.0])
