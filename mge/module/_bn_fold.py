"""BatchNorm folding for QAT modules: ``w * gamma / std`` and ``beta + gamma * (b - mean) / std``.

Tensor arithmetic (it stays differentiable for QAT), per channel, flattened to ``(C,)``;
the callers reshape to their weight and bias layouts.
"""

from __future__ import annotations

from .. import functional as F
from ..tensor import Tensor
from .batchnorm import _BatchNorm


def _flat(t: Tensor | None, default: float, num_features: int) -> Tensor:
    if t is None:
        fill = F.ones if default == 1.0 else F.zeros
        return fill((num_features,), dtype="float32")
    return t.reshape(-1)


def fold_scale(
    gamma: Tensor | None, var: Tensor | None, eps: float, num_features: int
) -> tuple[Tensor, Tensor]:
    """``(gamma / sqrt(var + eps), 1 / sqrt(var + eps))``, each ``(C,)`` (missing gamma: 1,
    missing var: 1)."""
    istd = 1.0 / F.sqrt(_flat(var, 1.0, num_features) + eps)
    return _flat(gamma, 1.0, num_features) * istd, istd


def fold_bias(
    gamma: Tensor | None, beta: Tensor | None, bias: Tensor | None, mean: Tensor | None,
    istd: Tensor, num_features: int,
) -> Tensor:
    """``beta + gamma * (bias - mean) * istd``, ``(C,)`` (missing values: 1 for gamma, else 0)."""
    c = num_features
    return _flat(beta, 0.0, c) + _flat(gamma, 1.0, c) * (
        _flat(bias, 0.0, c) - _flat(mean, 0.0, c)
    ) * istd


def bn_scale_and_istd(bn: _BatchNorm, var: Tensor | None) -> tuple[Tensor, Tensor]:
    """:func:`fold_scale` with ``bn``'s gamma and eps."""
    return fold_scale(bn.weight, var, bn.eps, bn.num_features)


def bn_folded_bias(
    bn: _BatchNorm, bias: Tensor | None, mean: Tensor | None, istd: Tensor
) -> Tensor:
    """:func:`fold_bias` with ``bn``'s gamma and beta."""
    return fold_bias(bn.weight, bn.bias, bias, mean, istd, bn.num_features)


def batch_mean_var(inp: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel (axis 1) mean and biased variance over the other axes, kept 4-d."""
    axes = tuple(a for a in range(inp.ndim) if a != 1)
    sum1, sum2 = inp, inp**2
    for axis in axes:
        sum1 = F.sum(sum1, axis=axis, keepdims=True)
        sum2 = F.sum(sum2, axis=axis, keepdims=True)
    reduce_size = inp.size / inp.shape[1]
    return sum1 / reduce_size, (sum2 - sum1**2 / reduce_size) / reduce_size


def update_running_stats(bn: _BatchNorm, mean: Tensor, var: Tensor, count: float) -> None:
    """Exponential moving update of ``bn``'s running stats (unbiased variance)."""
    var = var.detach() * count / (count - 1)
    factor = 1 - bn.momentum
    bn.running_mean[...] = bn.running_mean * bn.momentum + factor * mean.detach().reshape(
        bn.running_mean.shape
    )
    bn.running_var[...] = bn.running_var * bn.momentum + factor * var.reshape(
        bn.running_var.shape
    )
