"""``F.max_pool2d``/``F.avg_pool2d`` take 8-bit quantized inputs, as MegEngine's do (the
zoo's quantized ResNet-18 max-pools qint8 activations)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.dtype import get_scale, qint8


def test_max_pool2d_keeps_qint8() -> None:
    x = mge.tensor(np.random.default_rng(0).normal(size=(1, 2, 4, 4)).astype("f4"))
    q = x.astype(qint8(0.05))
    y = F.max_pool2d(q, 2)
    assert y.dtype == q.dtype and get_scale(y.dtype) == pytest.approx(0.05)
    np.testing.assert_array_equal(y.astype("float32").numpy(),
                                  F.max_pool2d(q.astype("float32"), 2).numpy())


def test_quantized_pool_needs_4d() -> None:
    q = mge.tensor(np.zeros((2, 4, 4), "f4")).astype(qint8(0.1))
    with pytest.raises(ValueError, match="max_pool2d: inp must be 4-d"):
        F.max_pool2d(q, 2)
