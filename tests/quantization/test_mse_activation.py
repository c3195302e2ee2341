"""``MSEActivationObserver``: symmetric int8 activation scales of least squared error over
the calibration histogram."""

from __future__ import annotations

import numpy as np
import pytest

import mge
from mge.quantization import HistogramObserver
from mge.quantization.mse_activation import MSEActivationObserver, histogram_mse_scale

RNG = np.random.default_rng(0)


def _int8_error(x: np.ndarray, scale: float) -> float:
    """Squared error of ``x`` stored as qint8 ([-128, 127]) at ``scale``."""
    return float(np.sum((x - np.clip(np.round(x / scale), -128, 127) * scale) ** 2))


def _scale(obs: MSEActivationObserver | HistogramObserver, *batches: np.ndarray) -> float:
    for b in batches:
        obs(mge.tensor(b.astype("float32")))
    return float(obs.get_qparams().scale.numpy())


def test_histogram_mse_scale_clips_an_outlier() -> None:
    x = np.concatenate([RNG.uniform(0.0, 6.0, 20000), [60.0]])
    hist, _ = np.histogram(x, 2048, (0.0, 60.0))
    s = histogram_mse_scale(hist, 0.0, 60.0, -128, 127)
    assert 0.3 * 60.0 / 127.5 <= s < 60.0 / 127.5
    assert _int8_error(x, s) < _int8_error(x, 60.0 / 127.5)


def test_histogram_mse_scale_keeps_a_saturated_relu6_exact() -> None:
    """A quarter of the values at 6.0 (saturated): 6 / 127 stores them as code 127."""
    x = np.concatenate([RNG.uniform(0.0, 6.0, 3000), np.full(1000, 6.0)])
    hist, _ = np.histogram(x, 2048, (0.0, 6.0))
    assert histogram_mse_scale(hist, 0.0, 6.0, -128, 127) == pytest.approx(6.0 / 127)


def test_histogram_mse_scale_of_an_empty_range_is_zero() -> None:
    assert histogram_mse_scale(np.zeros(16), 0.0, 0.0, -128, 127) == 0.0
    assert histogram_mse_scale(np.ones(16), -1.0, 1.0, -128, 127) > 0.0


@pytest.mark.parametrize("kind", ["relu6", "heavy_tails"])
def test_observer_error_not_above_histogram_observer(kind: str) -> None:
    """On the samples themselves, the MSE scale loses no more than HistogramObserver's
    L2 range (which counts 256 levels where a non-negative tensor gets 128)."""
    if kind == "relu6":
        batches = [np.clip(RNG.normal(1.0, 2.0, (4, 8, 16, 16)), 0.0, 6.0) for _ in range(3)]
    else:
        batches = [RNG.standard_t(3, (4, 8, 16, 16)) for _ in range(3)]
    x = np.concatenate([b.reshape(-1) for b in batches]).astype("float32")
    mse = _scale(MSEActivationObserver(), *batches)
    hist = _scale(HistogramObserver(), *batches)
    assert _int8_error(x, mse) <= _int8_error(x, hist) * 1.001
    assert mse <= np.abs(x).max() / 127 * (1 + 1e-6)


def test_disabled_observer_ignores_batches_and_uncalibrated_raises() -> None:
    obs = MSEActivationObserver()
    with pytest.raises(ValueError, match="MSEActivationObserver: get_qparams"):
        obs.get_qparams()
    first = _scale(obs, RNG.normal(size=(2, 4, 8, 8)))
    obs.disable()
    assert _scale(obs, 100 * RNG.normal(size=(2, 4, 8, 8))) == first


@pytest.mark.parametrize("kwargs", [{"grid": 0}, {"lowest": 0.0}, {"lowest": 1.5},
                                    {"subdiv": 0}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="MSEActivationObserver"):
        MSEActivationObserver(**kwargs)
