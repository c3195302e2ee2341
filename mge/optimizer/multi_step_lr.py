"""``MultiStepLR``: multiply the learning rate by ``gamma`` at each milestone epoch.

Example:
    >>> import mge
    >>> from mge.optimizer import SGD
    >>> opt = SGD([mge.Parameter([1.0])], lr=1.0)
    >>> sched = MultiStepLR(opt, milestones=[1, 2], gamma=0.1)
    >>> sched.step(); sched.step()
    >>> round(opt.param_groups[0]["lr"], 6)
    0.01
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from .lr_scheduler import LRScheduler
from .optimizer import Optimizer

_STATE_KEYS = ("milestones", "gamma", "current_epoch")


class MultiStepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (milestones passed)``.

    Args:
        optimizer: the wrapped optimizer.
        milestones: increasing epoch indices.
        gamma: the decay factor.
        current_epoch: the index of the current epoch.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 current_epoch: int = -1) -> None:
        milestones = list(milestones)
        if milestones != sorted(milestones):
            raise ValueError("Milestones should be a list of increasing integers. "
                             f"Got {milestones}")
        self.milestones = milestones
        self.gamma = gamma
        super().__init__(optimizer, current_epoch)

    def state_dict(self) -> dict:
        return {key: getattr(self, key) for key in _STATE_KEYS}

    def load_state_dict(self, state_dict: dict) -> None:
        for key in _STATE_KEYS:
            if key not in state_dict:
                raise KeyError(f"key '{key}'' is not specified in state_dict when loading "
                               "state dict")
        self.__dict__.update({key: state_dict[key] for key in _STATE_KEYS})

    def get_lr(self) -> list[float]:
        passed = bisect_right(self.milestones, self.current_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


__all__ = ["MultiStepLR"]
