"""Optimizer update ops: ``LAMBUpdate`` (MegEngine's fused LAMB step).

``LAMBUpdate(beta_1, beta_2, step, lr, weight_decay, eps, bias_correction, always_adapt)``
takes ``(m, v, param, grad)`` and returns ``(m', v', param')``:

* ``m' = beta_1 * m + (1 - beta_1) * grad``, ``v' = beta_2 * v + (1 - beta_2) * grad**2``;
* ``r = (m' / bc_1) / (sqrt(v' / bc_2) + eps) + weight_decay * param`` with
  ``bc_i = 1 - beta_i ** step`` under ``bias_correction`` (else 1);
* ``param' = param - lr * t * r``, the trust ratio ``t = |param| / |r|`` when
  ``weight_decay > 0`` or ``always_adapt`` and both norms are positive, else 1.

``m``, ``v`` and ``param`` are float32; ``grad`` is float32 or float16 (it is read in
float32). The norms are the true Euclidean norms, as MegEngine's CUDA kernel computes
them: its CPU kernel sums ``|param|**2`` into an integer (every ``param**2 < 1`` is lost),
which mge does not copy.

Example:
    >>> f32 = np.dtype("float32")
    >>> op = LAMBUpdate(0.9, 0.999, 1.0, 1e-3, 0.0, 1e-8, True, False)
    >>> [i.shape for i in op.infer([TensorInfo((3,), f32)] * 4)]
    [(3,), (3,), (3,)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, NoMgeForm, OpDef, TensorInfo, register_op

_F32 = np.dtype("float32")
_IN_MEMORY = "an optimizer step: it exists in memory only, .mge files do not hold it"


@register_op
class LAMBUpdate(OpDef):
    """One LAMB step on ``(m, v, param, grad)`` (MegEngine's param names and order)."""

    type_name = "LAMBUpdate"
    memory = Memory.FRESH
    mge_form = NoMgeForm(_IN_MEMORY)
    nr_inputs = (4,)
    beta_1: float = 1.0
    beta_2: float = 1.0
    step: float = 1.0
    lr: float = 1.0
    weight_decay: float = 1.0
    eps: float = 1.0
    bias_correction: bool = True
    always_adapt: bool = False

    def unwritable(self) -> str | None:
        return _IN_MEMORY

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        m, v, param, grad = inputs
        if not m.shape == v.shape == param.shape == grad.shape:
            self.fail("m, v, param and grad must have the same shape", inputs)
        if not m.dtype == v.dtype == param.dtype == _F32:
            self.fail("m, v and param must be float32", inputs)
        if grad.dtype not in (_F32, np.dtype("float16")):
            self.fail("grad must be float32 or float16", inputs)
        return [TensorInfo(m.shape, _F32) for _ in range(3)]

    def corrections(self) -> tuple[float, float]:
        """The bias corrections ``(1 - beta_1**step, 1 - beta_2**step)`` (or ``(1, 1)``)."""
        if not self.bias_correction:
            return 1.0, 1.0
        return 1.0 - self.beta_1 ** self.step, 1.0 - self.beta_2 ** self.step

    def adapts(self, p_norm: float, r_norm: float) -> bool:
        """Whether the trust ratio ``p_norm / r_norm`` scales the step."""
        return (self.always_adapt or self.weight_decay > 0) and p_norm > 0 and r_norm > 0


__all__ = ["LAMBUpdate"]
