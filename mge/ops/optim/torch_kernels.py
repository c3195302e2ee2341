"""torch kernel of ``LAMBUpdate`` (:mod:`mge.ops.optim`): the numpy kernel's arithmetic
on the device; only the two norms come back to decide the trust ratio."""

from __future__ import annotations

import torch

from ..registry import TORCH
from . import LAMBUpdate


@TORCH.kernel(LAMBUpdate)
def lamb_update(op: LAMBUpdate, m: torch.Tensor, v: torch.Tensor, param: torch.Tensor,
                grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = grad.float()
    new_m = op.beta_1 * m + (1 - op.beta_1) * g
    new_v = op.beta_2 * v + (1 - op.beta_2) * (g * g)
    bc1, bc2 = op.corrections()
    r = (new_m / bc1) / ((new_v / bc2).sqrt() + op.eps)
    if op.weight_decay != 0:
        r = r + param * op.weight_decay
    p_norm = float(param.double().square().sum().sqrt())
    r_norm = float(r.double().square().sum().sqrt())
    ratio = p_norm / r_norm if op.adapts(p_norm, r_norm) else 1.0
    return new_m, new_v, param - op.lr * ratio * r
