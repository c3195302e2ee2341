"""ONNX resampling rules in numpy: output sizes and per-axis interpolation weights.

Everything here depends on shapes and attributes only, never on tensor values: the
importer's :class:`.resize.Resample` op turns the weights into constant operands of
``matmul`` (or the picked indices of a vector indexing for ``nearest``). The rules are
ONNX's (``Resize`` opset 19, its reference implementation): source coordinates per
``coordinate_transformation_mode``, a ratio in ``(0, 1]`` (1 at whole coordinates), the
``n`` taps nearest the source coordinate (ties to the lower index), edge clamping, and
``exclude_outside`` renormalization.

Example:
    >>> index, mask = axis_weights(2, 4, 2.0, "nearest", "asymmetric", nearest_mode="floor")
    >>> index.tolist(), mask
    ([0, 0, 1, 1], None)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def output_sizes(shape: Sequence[int], scales: Sequence[float] | None,
                 sizes: Sequence[int] | None, policy: str) -> tuple[list[int], list[float]]:
    """``(sizes, scales)`` of the resized axes (input lengths ``shape``) from the node's
    ``scales`` or ``sizes`` and its ``keep_aspect_ratio_policy``."""
    if sizes is None:
        assert scales is not None
        return [int(float(s) * n) for s, n in zip(scales, shape)], [float(s) for s in scales]
    ratios = [t / n for t, n in zip(sizes, shape)]
    if policy == "stretch":
        return list(sizes), ratios
    scale = min(ratios) if policy == "not_larger" else max(ratios)
    return [int(scale * n + 0.5) for n in shape], [scale] * len(shape)


def _source(coords: str, out: np.ndarray, scale: float, n_in: int, n_out: int,
            roi: tuple[float, float] | None) -> np.ndarray:
    """The source coordinate of each output position (float64)."""
    width = scale * n_in
    if coords == "align_corners":
        return np.zeros(n_out) if width == 1 else out * (n_in - 1) / (width - 1)
    if coords == "asymmetric":
        return out / scale
    if coords == "tf_crop_and_resize":
        assert roi is not None
        start, end = roi
        if width == 1:
            return np.full(n_out, (end - start) * (n_in - 1) / 2 + start * (n_in - 1))
        return out * (end - start) * (n_in - 1) / (width - 1) + start * (n_in - 1)
    if coords == "pytorch_half_pixel":
        return np.full(n_out, -0.5) if width == 1 else (out + 0.5) / scale - 0.5
    if coords == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / width)
        return offset + (out + 0.5) / scale - 0.5
    return (out + 0.5) / scale - 0.5  # half_pixel


def _keys(x: np.ndarray, a: float) -> np.ndarray:
    """The cubic convolution kernel with parameter ``a`` at distances ``x``."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _coefficients(ratio: np.ndarray, mode: str, scale: float, nearest_mode: str,
                  cubic_a: float, antialias: bool) -> np.ndarray:
    """``[n_out, taps]`` interpolation coefficients for the ratios of each output."""
    r = ratio[:, None]
    if mode == "nearest":
        whole = ratio == 1.0
        upper = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5,
                 "floor": np.zeros_like(whole), "ceil": np.ones_like(whole)}[nearest_mode]
        upper = whole | upper
        return np.stack([~upper, upper], axis=1).astype(np.float64)
    if antialias:
        shrink = min(scale, 1.0)
        reach = 1 if mode == "linear" else 2
        start = int(np.floor(-reach / shrink) + 1)
        taps = (np.arange(start, 2 - start) - r) * shrink
        weights = np.clip(1 - np.abs(taps), 0, 1) if mode == "linear" else _keys(taps, cubic_a)
        return weights / weights.sum(axis=1, keepdims=True)
    if mode == "linear":
        return np.concatenate([1 - r, r], axis=1)
    return _keys(np.concatenate([r + 1, r, 1 - r, 2 - r], axis=1), cubic_a)


def axis_weights(n_in: int, n_out: int, scale: float, mode: str, coords: str, *,
                 nearest_mode: str = "round_prefer_floor", cubic_a: float = -0.75,
                 exclude_outside: bool = False, antialias: bool = False,
                 roi: tuple[float, float] | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """How one axis of length ``n_in`` is resampled to ``n_out``: for ``nearest`` the
    source index of each output (int32), else the ``[n_out, n_in]`` weights (float32);
    plus the mask of outputs that take the extrapolation value (``tf_crop_and_resize``),
    or None."""
    source = _source(coords, np.arange(n_out, dtype=np.float64), scale, n_in, n_out, roi)
    floor = np.floor(source)
    ratio = np.where(source == floor, 1.0, source - floor)
    coeffs = _coefficients(ratio, mode, scale, nearest_mode, cubic_a, antialias)
    taps = coeffs.shape[1]
    pad = math.ceil(taps / 2)
    shifted = source + pad
    base = np.floor(shifted)
    frac = shifted - base
    if taps % 2 == 0:
        offset = np.where(frac == 0, -(taps // 2), -(taps // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((taps - 1) // 2), -((taps - 1) // 2) + 1)
    index = (base + offset).astype(np.int64)[:, None] + np.arange(taps)[None, :] - pad
    if exclude_outside:
        coeffs = np.where((index < 0) | (index >= n_in), 0.0, coeffs)
        total = coeffs.sum(axis=1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    index = np.clip(index, 0, n_in - 1)
    mask = None
    if coords == "tf_crop_and_resize":
        outside = (source < 0) | (source > n_in - 1)
        mask = outside if outside.any() else None
    if mode == "nearest":
        picked = index[np.arange(n_out), np.argmax(coeffs, axis=1)]
        return picked.astype(np.int32), mask
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.repeat(np.arange(n_out), taps), index.reshape(-1)), coeffs.reshape(-1))
    return weights.astype(np.float32), mask


__all__ = ["axis_weights", "output_sizes"]
