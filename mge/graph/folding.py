"""Folding arithmetic shared by the graph passes and ``tm.optimize`` (written once).

* :func:`bn_scale_shift`: inference BatchNorm as ``x * scale + shift`` per channel;
* :func:`channel_scale`: a constant as one factor per output channel, if it is one;
* :func:`scale_conv_weight`: a convolution filter with each output channel scaled;
* :func:`fold_bn_into_conv`: a convolution's filter and bias with a BatchNorm folded in;
* :func:`const_operand`: ``x - c`` and ``x / c`` as ``x + c'`` and ``x * c'``;
* :func:`combine_constants`: ``(x + c1) + c2`` and ``(x * c1) * c2`` as one constant.

All computed in float64 and returned in the inputs' dtype.

Example:
    >>> import numpy as np
    >>> scale, shift = bn_scale_shift(np.zeros(2), np.ones(2), 0.0)
    >>> scale.tolist(), shift.tolist()
    ([1.0, 1.0], [0.0, 0.0])
"""

from __future__ import annotations

import numpy as np


def bn_scale_shift(mean: np.ndarray, var: np.ndarray, eps: float,
                   gamma: np.ndarray | None = None,
                   beta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``scale = gamma / sqrt(var + eps)`` and ``shift = beta - mean * scale`` (float64,
    in the statistics' shape; no ``gamma``/``beta`` means 1/0)."""
    std = np.sqrt(np.asarray(var, np.float64) + eps)
    scale = 1.0 / std if gamma is None else np.asarray(gamma, np.float64) / std
    offset = 0.0 if beta is None else np.asarray(beta, np.float64)
    return scale, offset - np.asarray(mean, np.float64) * scale


def channel_scale(k: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray | None:
    """``k`` as one float64 factor per output channel (axis 1 of ``out_shape``), or None
    when multiplying by ``k`` is not a per-channel scale of that output."""
    k = np.asarray(k)
    if k.ndim > len(out_shape):
        return None
    full = (1,) * (len(out_shape) - k.ndim) + k.shape
    if any(d != 1 for i, d in enumerate(full) if i != 1) or full[1] not in (1, out_shape[1]):
        return None
    return np.broadcast_to(k.reshape(-1).astype(np.float64), (out_shape[1],))


def out_channels(weight: np.ndarray) -> int:
    """Output channels of a dense ``[oc, ic, kh, kw]`` or group ``[g, oc/g, ic/g, kh, kw]``
    filter."""
    return weight.shape[0] * (weight.shape[1] if weight.ndim == 5 else 1)


def scale_conv_weight(weight: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``weight`` (dense or group, as :func:`out_channels`) with output channel ``k``
    multiplied by ``scale[k]``; float64."""
    w = np.asarray(weight, np.float64)
    if w.ndim == 5:
        return w * np.asarray(scale).reshape(w.shape[0], w.shape[1], *(1,) * (w.ndim - 2))
    return w * np.asarray(scale).reshape(-1, *(1,) * (w.ndim - 1))


def fold_bn_into_conv(weight: np.ndarray, bias: np.ndarray | None, mean: np.ndarray,
                      var: np.ndarray, eps: float, gamma: np.ndarray | None = None,
                      beta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The filter and the ``(1, oc, 1, 1)`` bias of ``bn(conv(x, weight) + bias)``, in the
    filter's dtype."""
    oc = out_channels(weight)
    scale, shift = bn_scale_shift(np.reshape(mean, oc), np.reshape(var, oc), eps,
                                  None if gamma is None else np.reshape(gamma, oc),
                                  None if beta is None else np.reshape(beta, oc))
    b0 = np.zeros(oc) if bias is None else np.reshape(bias, oc).astype(np.float64)
    new_bias = (b0 * scale + shift).reshape(1, oc, 1, 1)
    dtype = np.asarray(weight).dtype
    return scale_conv_weight(weight, scale).astype(dtype), new_bias.astype(dtype)


def const_operand(kind: str, c: np.ndarray) -> tuple[str, np.ndarray]:
    """``x - c`` as ``x + (-c)`` and ``x / c`` as ``x * (1/c)`` (float64): ``kind`` is
    "add", "sub", "mul" or "div"; returns ("add" or "mul", the constant)."""
    if kind == "sub":
        return "add", -np.asarray(c)
    if kind == "div":
        return "mul", 1.0 / np.asarray(c).astype(np.float64)
    return kind, np.asarray(c)


def combine_constants(kind: str, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """The one constant of ``(x + c1) + c2`` (``kind`` "add") or ``(x * c1) * c2`` ("mul"),
    computed in float64 for floats."""
    wide = np.float64 if np.result_type(c1, c2).kind == "f" else None
    a, b = np.asarray(c1, wide), np.asarray(c2, wide)
    return a + b if kind == "add" else a * b


__all__ = [
    "bn_scale_shift", "channel_scale", "combine_constants", "const_operand", "fold_bn_into_conv",
    "out_channels", "scale_conv_weight",
]
