"""``SGD`` with momentum, Nesterov momentum and weight decay (MegEngine 1.13's update).

Example:
    >>> import mge
    >>> w = mge.Parameter([1.0])
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     w.grad = mge.tensor([1.0])
    ...     _ = opt.step()
    >>> w.numpy().round(4)
    array([0.71], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..tensor import Parameter
from .optimizer import Optimizer


class SGD(Optimizer):
    """``v = momentum * v + g`` (``g`` plus ``weight_decay * param``), then
    ``param -= lr * v`` (Nesterov: ``param -= lr * (g + momentum * v)``).

    Args:
        params: parameters or param-group dicts.
        lr: learning rate.
        momentum: momentum factor (0: plain SGD).
        nesterov: Nesterov momentum (needs ``momentum > 0``).
        weight_decay: L2 penalty factor.
    """

    def __init__(self, params: Iterable[Parameter] | dict, lr: float, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        assert lr >= 0.0, f"Invalid learning rate: {lr}"
        assert momentum >= 0.0, f"Invalid momentum value: {momentum}"
        assert weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}"
        assert not nesterov or momentum > 0.0, "Nesterov momentum requires a momentum"
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})
        self.nesterov = nesterov

    def _create_state(self, param_group: dict) -> None:
        if param_group["momentum"] != 0.0:
            for param in param_group["params"]:
                self._add_state(param, "momentum_buffer")

    def _updates(self, param_group: dict) -> None:
        lr, momentum = param_group["lr"], param_group["momentum"]
        weight_decay = param_group["weight_decay"]
        for param, grad in self._grads(param_group, weight_decay):
            if momentum != 0.0:
                v = self._state[param]["momentum_buffer"]
                v *= momentum
                v += grad
                grad = grad + v * momentum if self.nesterov else v
            param -= lr * grad


__all__ = ["SGD"]
