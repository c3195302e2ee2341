"""``M.init``: in-place initialisers for parameters (MegEngine's names and formulas).

Random initialisers draw from :mod:`mge.random`, so ``mge.random.seed(s)`` makes a
model's initial weights reproducible. Each function replaces the tensor's value in
place and keeps its shape and dtype.

Example:
    >>> import mge, mge.module as M
    >>> w = mge.Parameter([[0.0, 0.0]])
    >>> M.init.fill_(w, 3)
    >>> w.numpy()
    array([[3., 3.]], dtype=float32)
"""

from __future__ import annotations

import math

import numpy as np

from .. import random
from ..tensor import Tensor

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def _assign(tensor: Tensor, value: Tensor | np.ndarray) -> None:
    tensor.set_value(Tensor(np.asarray(value).astype(tensor.dtype), device=tensor.device))


def fill_(tensor: Tensor, val: float) -> None:
    """Fill ``tensor`` with ``val``."""
    _assign(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> None:
    """Fill ``tensor`` with 0."""
    fill_(tensor, 0)


def ones_(tensor: Tensor) -> None:
    """Fill ``tensor`` with 1."""
    fill_(tensor, 1)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> None:
    """Fill ``tensor`` with samples of U(a, b)."""
    _assign(tensor, random.uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> None:
    """Fill ``tensor`` with samples of N(mean, std^2)."""
    _assign(tensor, random.normal(mean, std, tensor.shape))


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (1, 5/3 for tanh, sqrt(2) for relu, ...).

    Raises:
        ValueError: for an unknown nonlinearity or a non-numeric leaky_relu slope.
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight in NCHW layout.

    For group conv weights ``(G, O/G, I/G, kh, kw)`` the group axis is ignored, so
    ``fan_out = O/G * kh * kw`` (MegEngine's convention; PyTorch uses ``O * kh * kw``).

    Raises:
        ValueError: for tensors with fewer than 2 dimensions.
    """
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(
            "fan_in and fan_out can not be computed for tensor with fewer than 2 dimensions, "
            f"got shape {shape}"
        )
    if len(shape) >= 5:
        shape = shape[1:]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    """``fan_in`` or ``fan_out`` of ``tensor`` depending on ``mode``.

    Raises:
        ValueError: for a mode other than "fan_in"/"fan_out".
    """
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> None:
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> None:
    """Glorot normal: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def _msra_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    return calculate_gain(nonlinearity, a) / math.sqrt(calculate_correct_fan(tensor, mode))


def msra_uniform_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> None:
    """He uniform: U(-b, b) with ``b = sqrt(3) * gain(nonlinearity, a) / sqrt(fan)``."""
    bound = math.sqrt(3.0) * _msra_std(tensor, a, mode, nonlinearity)
    uniform_(tensor, -bound, bound)


def msra_normal_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> None:
    """He normal: N(0, std^2) with ``std = gain(nonlinearity, a) / sqrt(fan)``."""
    normal_(tensor, 0.0, _msra_std(tensor, a, mode, nonlinearity))


__all__ = [
    "calculate_correct_fan",
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "fill_",
    "msra_normal_",
    "msra_uniform_",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
