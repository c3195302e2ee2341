"""``AdamW``: Adam with decoupled weight decay (default 0.01, MegEngine 1.13).

Example:
    >>> import mge
    >>> w = mge.Parameter([1.0])
    >>> w.grad = mge.tensor([2.0])
    >>> _ = AdamW([w], lr=0.1).step()
    >>> w.numpy().round(4)
    array([0.899], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..tensor import Parameter
from .adam import Adam


class AdamW(Adam):
    """Adam whose ``weight_decay * param`` joins the step, not the gradient.

    Args: as :class:`~mge.optimizer.Adam`, with ``weight_decay=1e-2``.
    """

    decoupled = True

    def __init__(self, params: Iterable[Parameter] | dict, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


__all__ = ["AdamW"]
