"""numpy kernel of ``LAMBUpdate`` (:mod:`mge.ops.optim`): float32 arithmetic, norms
summed in float64."""

from __future__ import annotations

import numpy as np

from ..registry import NUMPY
from . import LAMBUpdate


@NUMPY.kernel(LAMBUpdate)
def lamb_update(op: LAMBUpdate, m: np.ndarray, v: np.ndarray, param: np.ndarray,
                grad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f32 = np.float32
    g = grad.astype(f32)
    b1, b2 = f32(op.beta_1), f32(op.beta_2)
    new_m = b1 * m + (f32(1) - b1) * g
    new_v = b2 * v + (f32(1) - b2) * (g * g)
    bc1, bc2 = (f32(c) for c in op.corrections())
    r = (new_m / bc1) / (np.sqrt(new_v / bc2) + f32(op.eps))
    if op.weight_decay != 0:
        r = r + param * f32(op.weight_decay)
    p_norm = float(np.sqrt(np.sum(np.square(param, dtype=np.float64))))
    r_norm = float(np.sqrt(np.sum(np.square(r, dtype=np.float64))))
    ratio = f32(p_norm / r_norm) if op.adapts(p_norm, r_norm) else f32(1)
    new_param = param - f32(op.lr) * ratio * r
    return new_m.astype(f32), new_v.astype(f32), new_param.astype(f32)
