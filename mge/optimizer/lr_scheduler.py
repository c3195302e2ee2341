"""``LRScheduler``: the base of learning-rate schedulers (MegEngine 1.13).

Example:
    >>> import mge
    >>> from mge.optimizer import SGD, MultiStepLR
    >>> opt = SGD([mge.Parameter([1.0])], lr=1.0)
    >>> sched = MultiStepLR(opt, milestones=[2], gamma=0.5)
    >>> for _ in range(3):
    ...     sched.step()
    >>> opt.param_groups[0]["lr"]
    0.5
"""

from __future__ import annotations

from abc import ABCMeta

from .optimizer import Optimizer


class LRScheduler(metaclass=ABCMeta):  # noqa: B024 - MegEngine declares it so
    """Sets each param group's ``lr`` from ``get_lr()`` on every ``step``.

    Args:
        optimizer: the wrapped optimizer.
        current_epoch: the index of the current epoch (-1: start from the beginning,
            recording each group's ``initial_lr``).
    """

    def __init__(self, optimizer: Optimizer, current_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError("optimizer argument given to the lr_scheduler should be Optimizer")
        self.optimizer = optimizer
        self.current_epoch = current_epoch
        if current_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming an optimizer")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.step()

    def state_dict(self) -> dict:
        """The scheduler's state (every attribute but the optimizer)."""
        raise NotImplementedError

    def load_state_dict(self, state_dict: dict) -> None:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The learning rate of each group for ``current_epoch``."""
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Advance to the next epoch (or to ``epoch``) and set the groups' ``lr``."""
        self.current_epoch = self.current_epoch + 1 if epoch is None else epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr


__all__ = ["LRScheduler"]
