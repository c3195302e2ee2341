"""Seeded random weights for a model's state dict, shared by the stand-alone drivers that
run one model under mge and under real MegEngine (``megengine_models_detector.py`` beside
this file imports it; ``tests/repos/driver.py`` loads it by path). Only numpy is imported,
so both interpreters can load it."""

from __future__ import annotations

import numpy as np


def random_weights(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Seeded weights keeping activations O(1): filters ~ N(0, 1/fan_in), norm scales and
    variances near 1, biases and means near 0 (non-float entries kept).

    >>> w = random_weights({"conv.weight": np.zeros((4, 2, 3, 3), np.float32)})
    >>> w["conv.weight"].shape, w["conv.weight"].dtype
    ((4, 2, 3, 3), dtype('float32'))
    """
    rng = np.random.default_rng(0)
    out = {}
    for name, value in state.items():
        if value.dtype.kind != "f":
            out[name] = value
            continue
        noise = rng.standard_normal(value.shape)
        if value.ndim > 1:
            weight = noise * (1.0 / np.prod(value.shape[1:])) ** 0.5
        elif "weight" in name or "var" in name or "gamma" in name:
            weight = np.abs(1.0 + 0.1 * noise)
        else:
            weight = 0.1 * noise
        out[name] = weight.reshape(value.shape).astype(value.dtype)
    return out
