"""``Adagrad`` (MegEngine 1.13's update).

Example:
    >>> import mge
    >>> w = mge.Parameter([1.0])
    >>> w.grad = mge.tensor([2.0])
    >>> _ = Adagrad([w], lr=0.1).step()
    >>> w.numpy().round(4)
    array([0.9], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..tensor import Parameter
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """``s += g * g``; ``param -= lr / (1 + (step - 1) * lr_decay) * g / sqrt(s + eps)``.

    Args:
        params: parameters or param-group dicts.
        lr: learning rate.
        lr_decay: learning-rate decay per step.
        eps: added inside the square root.
        weight_decay: L2 penalty added to the gradient.
    """

    def __init__(self, params: Iterable[Parameter] | dict, lr: float = 1e-2,
                 lr_decay: float = 0.0, eps: float = 1e-10, weight_decay: float = 0.0) -> None:
        assert lr >= 0.0, f"Invalid learning rate: {lr}"
        assert lr_decay >= 0, f"Invalid learning rate decay: {lr_decay}"
        assert eps >= 0.0, f"Invalid epsilon value: {eps}"
        assert weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}"
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay})

    def _create_state(self, param_group: dict) -> None:
        for param in param_group["params"]:
            self._add_state(param, "square_avg")
            self._add_state(param, "step", initializer=0.0)

    def _updates(self, param_group: dict) -> None:
        lr, lr_decay = param_group["lr"], param_group["lr_decay"]
        eps, weight_decay = param_group["eps"], param_group["weight_decay"]
        for param, grad in self._grads(param_group, weight_decay):
            states = self._state[param]
            step = states["step"]
            step += 1.0
            square_avg = states["square_avg"]
            square_avg += grad ** 2.0
            delta = grad / (square_avg + eps) ** 0.5
            param -= lr / (1.0 + (step - 1.0) * lr_decay) * delta


__all__ = ["Adagrad"]
