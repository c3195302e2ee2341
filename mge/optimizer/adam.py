"""``Adam`` (MegEngine 1.13's update; L2 weight decay added to the gradient).

Example:
    >>> import mge
    >>> w = mge.Parameter([1.0])
    >>> w.grad = mge.tensor([2.0])
    >>> _ = Adam([w], lr=0.1).step()
    >>> w.numpy().round(4)
    array([0.9], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..tensor import Parameter, Tensor
from .optimizer import Optimizer


def check_adam_args(lr: float, betas: tuple[float, float], weight_decay: float) -> None:
    """MegEngine's ``ValueError``\\ s for Adam-style hyper-parameters."""
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")
    for k in (0, 1):
        if not 0.0 <= betas[k] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {k}: {betas[k]}")


class Adam(Optimizer):
    """``m, v`` moving averages of ``g`` and ``g * g``; ``param -= lr * m_hat / (sqrt(v_hat)
    + eps)`` with bias-corrected ``m_hat, v_hat``.

    Args:
        params: parameters or param-group dicts.
        lr: learning rate.
        betas: decay of the first and second moment averages.
        eps: added to the denominator.
        weight_decay: L2 penalty added to the gradient.
    """

    #: AdamW decays the weights after the moments instead of through the gradient
    decoupled = False

    def __init__(self, params: Iterable[Parameter] | dict, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        check_adam_args(lr, betas, weight_decay)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "betas": betas,
                                  "eps": eps})

    def _create_state(self, param_group: dict) -> None:
        for param in param_group["params"]:
            self._add_state(param, "exp_avg")
            self._add_state(param, "exp_avg_sq")
            self._add_state(param, "step", initializer=0.0)

    def _updates(self, param_group: dict) -> None:
        lr, eps, weight_decay = param_group["lr"], param_group["eps"], param_group["weight_decay"]
        l2 = 0.0 if self.decoupled else weight_decay
        for param, grad in self._grads(param_group, l2):
            delta = adam_delta(self._state[param], grad, param_group["betas"], eps)
            if weight_decay != 0.0 and self.decoupled:
                delta += param * weight_decay
            param -= lr * delta


def adam_delta(states: dict[str, Tensor], grad: Tensor, betas: tuple[float, float],
               eps: float, bias_correction: bool = True) -> Tensor:
    """Advance ``step``, ``exp_avg`` and ``exp_avg_sq`` in place; the Adam direction."""
    beta0, beta1 = betas
    step, exp_avg, exp_avg_sq = states["step"], states["exp_avg"], states["exp_avg_sq"]
    step += 1.0
    exp_avg *= beta0
    exp_avg += grad * (1.0 - beta0)
    exp_avg_sq *= beta1
    exp_avg_sq += (1.0 - beta1) * (grad * grad)
    m, v = exp_avg, exp_avg_sq
    if bias_correction:
        m, v = m / (1.0 - beta0 ** step), v / (1.0 - beta1 ** step)
    return m / (v ** 0.5 + eps)


__all__ = ["Adam"]
