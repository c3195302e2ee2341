"""``Adadelta`` (MegEngine 1.13's update).

Example:
    >>> import mge
    >>> w = mge.Parameter([1.0])
    >>> w.grad = mge.tensor([2.0])
    >>> _ = Adadelta([w]).step()
    >>> w.numpy().round(4)
    array([0.9968], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..tensor import Parameter
from .optimizer import Optimizer


class Adadelta(Optimizer):
    """``s = rho s + (1 - rho) g^2``; ``d = sqrt(a + eps) / sqrt(s + eps) * g``;
    ``param -= lr * d``; ``a = rho a + (1 - rho) d^2``.

    Args:
        params: parameters or param-group dicts.
        lr: scale of the step.
        rho: decay of the running averages.
        eps: added inside the square roots.
        weight_decay: L2 penalty added to the gradient.
    """

    def __init__(self, params: Iterable[Parameter] | dict, lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0) -> None:
        assert lr >= 0.0, f"Invalid learning rate: {lr}"
        assert 0.0 <= rho <= 1.0, f"Invalid rho value: {rho}"
        assert eps >= 0.0, f"Invalid epsilon value: {eps}"
        assert weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}"
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay})

    def _create_state(self, param_group: dict) -> None:
        for param in param_group["params"]:
            self._add_state(param, "square_avg")
            self._add_state(param, "acc_delta")
            self._add_state(param, "step", initializer=0.0)

    def _updates(self, param_group: dict) -> None:
        lr, rho = param_group["lr"], param_group["rho"]
        eps, weight_decay = param_group["eps"], param_group["weight_decay"]
        for param, grad in self._grads(param_group, weight_decay):
            states = self._state[param]
            step = states["step"]
            step += 1.0
            square_avg = rho * states["square_avg"] + (1.0 - rho) * grad ** 2.0
            delta = (states["acc_delta"] + eps) ** 0.5 / (square_avg + eps) ** 0.5 * grad
            param -= lr * delta
            acc_delta = rho * states["acc_delta"] + (1.0 - rho) * delta ** 2.0
            states["square_avg"].set_value(square_avg)
            states["acc_delta"].set_value(acc_delta)


__all__ = ["Adadelta"]
