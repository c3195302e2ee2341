"""``sync_batch_norm``: batch normalisation whose statistics span the processes of a group
(MegEngine's ``F.nn.sync_batch_norm``; ``M.SyncBatchNorm`` calls it).

Training while distributed, each process sums its per-channel count, sum and sum of
squares; one differentiable ``all_reduce_sum`` makes them the group's; the mean and the
biased variance ``E[x^2] - E[x]^2`` normalise the input, and the running statistics take
the group's mean and unbiased variance (``momentum * running + (1 - momentum) * batch``).
Otherwise (one process, or inference) it is ``F.batch_norm`` (``eps_mode="additive"``).

Example:
    >>> import numpy as np, mge
    >>> x = mge.tensor(np.arange(8, dtype="float32").reshape(2, 2, 2, 1))
    >>> y = sync_batch_norm(x, None, None, training=True)
    >>> np.round(y.numpy().mean(axis=(0, 2, 3)), 5).tolist()
    [0.0, 0.0]
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .functional import all_reduce_sum
from .group import WORLD, Group, is_distributed


def _channel_param(x: Tensor | None, c: int, fill: float, like: Tensor) -> Tensor:
    if x is None:
        return Tensor(np.full((1, c, 1, 1), fill, np.dtype(like.dtype)), device=like.device)
    return x.reshape((1, c, 1, 1))


def sync_batch_norm(inp: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None = None, bias: Tensor | None = None,
                    training: bool = False, momentum: float = 0.9, eps: float = 1e-5,
                    eps_mode: str = "additive", group: Group | None = WORLD) -> Tensor:
    """Batch normalisation of an ``(N, C, H, W)`` input with statistics over ``group``.

    Args:
        inp: the input, 4-D.
        running_mean, running_var: ``(1, C, 1, 1)`` running statistics (updated in place
            when training), or None.
        weight, bias: the affine parameters, or None.
        training: normalise with the batch statistics (else with the running ones).
        momentum: weight of the old running statistics.
        eps: added to (``additive``) or bounding (``max``) the variance.
        eps_mode: ``"additive"`` or ``"max"``.
        group: the processes whose batches make the statistics.
    """
    mode = eps_mode.lower()
    if mode not in ("additive", "max"):
        raise AssertionError(f"unknown eps_mode: {eps_mode}")
    if mode == "additive" and not (is_distributed() and training):
        return F.batch_norm(inp, running_mean, running_var, weight, bias, training=training,
                            momentum=momentum, eps=eps)
    if inp.ndim != 4:
        raise NotImplementedError(f"sync_batch_norm: input of shape {tuple(inp.shape)} "
                                  "(4-D only; M.SyncBatchNorm reshapes 2-D and 3-D inputs)")
    c = inp.shape[1]
    scale = _channel_param(weight, c, 1.0, inp)
    shift = _channel_param(bias, c, 0.0, inp)
    if training:
        local_n = float(inp.shape[0] * inp.shape[2] * inp.shape[3])
        stats = F.concat([
            F.full((1,), local_n, dtype=inp.dtype),
            inp.sum(axis=(0, 2, 3)),
            (inp * inp).sum(axis=(0, 2, 3)),
        ])
        if is_distributed():
            stats = all_reduce_sum(stats, WORLD if group is None else group)
        n, sums, sqsums = stats[0], stats[1:1 + c], stats[1 + c:]
        mean = (sums / n).reshape((1, c, 1, 1))
        var = (sqsums / n).reshape((1, c, 1, 1)) - mean * mean
    else:
        if running_mean is None or running_var is None:
            raise ValueError("sync_batch_norm: running_mean and running_var are required in "
                             "inference")
        mean, var = running_mean.reshape((1, c, 1, 1)), running_var.reshape((1, c, 1, 1))
    bounded = var + eps if mode == "additive" else F.maximum(var, F.full_like(var, eps))
    inv = scale / F.sqrt(bounded)
    out = inp * inv + (shift - mean * inv)
    if training and running_mean is not None and running_var is not None:
        total = float(n.numpy())
        unbiased = var.detach() * (total / max(total - 1.0, 1.0))
        running_mean.set_value((running_mean * momentum
                                + mean.detach().reshape(running_mean.shape)
                                * (1 - momentum)).detach())
        running_var.set_value((running_var * momentum
                               + unbiased.reshape(running_var.shape) * (1 - momentum)).detach())
    return out


__all__ = ["sync_batch_norm"]
