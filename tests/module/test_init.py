"""M.init: fills, fan computation, gains and the statistics of the random initialisers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mge
import mge.module as M
from mge.module import init


def _param(*shape: int, dtype: str = "float32") -> mge.Parameter:
    return mge.Parameter(np.zeros(shape, dtype=dtype))


def test_fills_keep_shape_and_dtype():
    w = _param(2, 3, dtype="float16")
    init.fill_(w, 2.5)
    assert w.dtype == np.float16 and w.shape == (2, 3)
    np.testing.assert_array_equal(w.numpy(), np.full((2, 3), 2.5))
    init.ones_(w)
    assert w.numpy().min() == 1.0
    init.zeros_(w)
    assert w.numpy().max() == 0.0
    init.normal_(w)
    assert w.dtype == np.float16


@pytest.mark.parametrize(
    ("shape", "fans"),
    [
        ((3, 2), (2, 3)),
        ((8, 3, 3, 3), (27, 72)),
        ((2, 4, 3, 3, 3), (27, 36)),  # group conv: the group axis is ignored
        ((5, 4, 7), (28, 35)),
    ],
)
def test_fan_in_and_fan_out(shape, fans):
    assert init.calculate_fan_in_and_fan_out(_param(*shape)) == fans
    assert init.calculate_correct_fan(_param(*shape), "FAN_OUT") == fans[1]


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions, got shape \\(4,\\)"):
        init.calculate_fan_in_and_fan_out(_param(4))
    with pytest.raises(ValueError, match="Mode fan_mid not supported"):
        init.calculate_correct_fan(_param(2, 2), "fan_mid")


def test_gains():
    assert init.calculate_gain("conv2d") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / 1.0001))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="Unsupported nonlinearity selu"):
        init.calculate_gain("selu")


def _stats(fill, shape=(400, 500), **kwargs):
    mge.random.seed(0)
    w = _param(*shape)
    fill(w, **kwargs)
    v = w.numpy().astype(np.float64)
    return v.mean(), v.std(), v.min(), v.max()


def test_uniform_and_normal_statistics():
    mean, std, lo, hi = _stats(init.uniform_, a=-2.0, b=4.0)
    assert lo >= -2.0 and hi < 4.0
    assert mean == pytest.approx(1.0, abs=0.02)
    assert std == pytest.approx(6 / math.sqrt(12), rel=0.01)
    mean, std, _, _ = _stats(init.normal_, mean=3.0, std=0.5)
    assert mean == pytest.approx(3.0, abs=0.005) and std == pytest.approx(0.5, rel=0.01)


def test_xavier_statistics():
    bound = math.sqrt(6 / (400 + 500))
    mean, std, lo, hi = _stats(init.xavier_uniform_, gain=2.0)
    assert -2 * bound <= lo and hi <= 2 * bound
    assert std == pytest.approx(2 * bound / math.sqrt(3), rel=0.01)
    _, std, _, _ = _stats(init.xavier_normal_)
    assert std == pytest.approx(math.sqrt(2 / 900), rel=0.01)


def test_msra_statistics():
    shape = (64, 32, 3, 3)  # fan_in 288, fan_out 576
    _, std, _, _ = _stats(init.msra_normal_, shape, mode="fan_out", nonlinearity="relu")
    assert std == pytest.approx(math.sqrt(2 / 576), rel=0.02)
    _, _, lo, hi = _stats(init.msra_uniform_, shape, a=math.sqrt(5))
    bound = 1 / math.sqrt(288)
    assert -bound <= lo and hi <= bound and hi > 0.95 * bound


def test_seed_makes_module_init_reproducible():
    mge.random.seed(3)
    a = M.Conv2d(3, 8, 3).weight.numpy()
    b = M.Conv2d(3, 8, 3).weight.numpy()
    mge.random.seed(3)
    np.testing.assert_array_equal(M.Conv2d(3, 8, 3).weight.numpy(), a)
    assert not np.array_equal(a, b)


def test_random_module_arguments():
    assert mge.random.normal().shape == (1,)
    assert mge.random.uniform(size=4).shape == (4,)
    with pytest.raises(ValueError, match="std must be >= 0"):
        mge.random.normal(std=-1)
    with pytest.raises(ValueError, match="low \\(2\\) must not exceed high \\(1\\)"):
        mge.random.uniform(2, 1)
