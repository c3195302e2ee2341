"""``LAMB``: layer-wise adaptive Adam; each step is one ``LAMBUpdate`` op per parameter,
as in MegEngine 1.13.

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

from ..core.apply import apply
from ..ops.optim import LAMBUpdate
from ..tensor import Parameter
from .adam import Adam, check_adam_args
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

    _create_state = Adam._create_state  # Adam's moments and step

    def _updates(self, param_group: dict) -> None:
        beta_1, beta_2 = param_group["betas"]
        for param in param_group["params"]:
            if param.grad is None:
                continue
            state = self._state[param]
            state["step"] += 1.0
            op = LAMBUpdate(float(beta_1), float(beta_2), float(int(state["step"])),
                            float(param_group["lr"]), float(param_group["weight_decay"]),
                            float(param_group["eps"]), bool(self.bias_correction),
                            bool(self.always_adapt))
            new_m, new_v, new_param = apply(op, state["exp_avg"], state["exp_avg_sq"],
                                            param, param.grad)
            param._reset(new_param)
            state["exp_avg"]._reset(new_m)
            state["exp_avg_sq"]._reset(new_v)


__all__ = ["LAMB"]
