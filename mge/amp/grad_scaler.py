"""``GradScaler``: scale the loss gradient against float16 underflow, unscale the
parameters' gradients, and adapt the scale when they overflow (MegEngine 1.13).

Example:
    >>> import mge
    >>> from mge.autodiff import GradManager
    >>> x = mge.tensor([1.0])
    >>> gm, scaler = GradManager().attach(x), GradScaler()
    >>> with gm:
    ...     scaler.backward(gm, x * 3)
    >>> x.grad.numpy()
    array([3.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.tensor.base import Tensor

if TYPE_CHECKING:
    from ..autodiff import GradManager


class GradScaler:
    """Loss-gradient scaling for mixed precision training.

    Args:
        init_scale: the initial scale factor.
        growth_factor: multiplies the scale after ``growth_interval`` finite steps.
        backoff_factor: multiplies the scale when a gradient is not finite.
        growth_interval: steps between growths (0: a fixed scale).
    """

    def __init__(self, init_scale: float = 2.0 ** 4, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000) -> None:
        self.scale_factor = float(init_scale)
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.growth_interval = growth_interval
        self._growth_tracker = 0
        self._found_non_finite = False

    def backward(self, gm: GradManager, y: Tensor | list[Tensor] | None = None,
                 dy: Tensor | list[Tensor] | None = None, *, unscale_grad: bool = True,
                 update_scale: Any = "if_unscale_grad") -> None:
        """``gm.backward`` with ``dy`` (default ones) times the scale; then (if
        ``unscale_grad``) unscale the attached tensors' gradients and update the scale."""
        ys = [] if y is None else list(y) if isinstance(y, (tuple, list)) else [y]
        if dy is None:
            dys = [Tensor(np.full(t.shape, self.scale_factor, t.dtype), device=t.device)
                   for t in ys]
        else:
            dys = [d * self.scale_factor for d in (dy if isinstance(dy, (tuple, list))
                                                   else [dy])]
        gm.backward(y=ys, dy=dys)
        if unscale_grad:
            self.unscale(gm.attached_tensors())
            if update_scale:
                self.update()

    def unscale(self, grad_tensors: Iterable[Tensor]) -> GradScaler:
        """Divide the tensors' gradients by the scale; drop them all when one is not
        finite (and remember it for :meth:`update`)."""
        tensors = [t for t in grad_tensors if t is not None and t.grad is not None]
        inv_scale = 1.0 / self.scale_factor
        if self.growth_interval != 0 and not all(
                np.isfinite(t.grad.numpy()).all() for t in tensors):
            self._found_non_finite = True
            for t in tensors:
                t.grad = None
            return self
        for t in tensors:
            t.grad = t.grad * inv_scale
        return self

    def update(self, new_scale: float | None = None) -> None:
        """Back off after an overflow, grow after ``growth_interval`` clean steps (or
        set ``new_scale``)."""
        if self.growth_interval == 0:
            return
        if new_scale is not None:
            self.scale_factor = float(new_scale)
        elif self._found_non_finite:
            self.scale_factor *= self.backoff_factor
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker >= self.growth_interval:
                self.scale_factor *= self.growth_factor
                self._growth_tracker = 0
        self._found_non_finite = False

    def state_dict(self) -> dict:
        return {"scale_factor": self.scale_factor, "growth_factor": self.growth_factor,
                "backoff_factor": self.backoff_factor, "growth_interval": self.growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state: dict) -> None:
        for key in ("scale_factor", "growth_factor", "backoff_factor", "growth_interval",
                    "_growth_tracker"):
            setattr(self, key, state[key])


__all__ = ["GradScaler"]
