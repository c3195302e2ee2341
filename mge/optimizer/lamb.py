"""``LAMB``: layer-wise adaptive Adam (MegEngine 1.13's ``LAMBUpdate`` arithmetic).

Example:
    >>> import mge
    >>> w = mge.Parameter([3.0, 4.0])
    >>> w.grad = mge.tensor([1.0, 1.0])
    >>> _ = LAMB([w], lr=0.1, weight_decay=0.1).step()
    >>> w.numpy().round(3)
    array([2.66 , 3.634], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import functional as F
from ..tensor import Parameter
from .adam import adam_delta, check_adam_args
from .optimizer import Optimizer


class LAMB(Optimizer):
    """The Adam direction plus ``weight_decay * param``, scaled by the trust ratio
    ``|param| / |direction|`` (when ``weight_decay > 0`` or ``always_adapt``).

    Args:
        params: parameters or param-group dicts.
        lr: learning rate.
        betas: decay of the first and second moment averages.
        eps: added to the denominator.
        bias_correction: bias-correct the moments.
        weight_decay: decoupled weight decay.
        always_adapt: use the trust ratio even without weight decay.
    """

    def __init__(self, params: Iterable[Parameter] | dict, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 bias_correction: bool = True, weight_decay: float = 0.0,
                 always_adapt: bool = False) -> None:
        check_adam_args(lr, betas, weight_decay)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "betas": betas,
                                  "eps": eps})
        self.bias_correction = bias_correction
        self.always_adapt = always_adapt

    def _create_state(self, param_group: dict) -> None:
        for param in param_group["params"]:
            self._add_state(param, "exp_avg")
            self._add_state(param, "exp_avg_sq")
            self._add_state(param, "step", initializer=0.0)

    def _updates(self, param_group: dict) -> None:
        lr, weight_decay = param_group["lr"], param_group["weight_decay"]
        for param in param_group["params"]:
            if param.grad is None:
                continue
            p_norm = F.sqrt(F.sum(param * param))
            delta = adam_delta(self._state[param], param.grad.astype(param.dtype),
                               param_group["betas"], param_group["eps"], self.bias_correction)
            if weight_decay != 0.0:
                delta += param * weight_decay
            d_norm = F.sqrt(F.sum(delta * delta))
            adapt = (self.always_adapt or weight_decay > 0) and float(p_norm) > 0 \
                and float(d_norm) > 0
            param -= (lr * (p_norm / d_norm) if adapt else lr) * delta


__all__ = ["LAMB"]
