"""Gradient clipping: ``clip_grad_norm`` and ``clip_grad_value`` (in place on ``.grad``).

Example:
    >>> import mge
    >>> w = mge.Parameter([0.0, 0.0])
    >>> w.grad = mge.tensor([3.0, 4.0])
    >>> float(clip_grad_norm(w, max_norm=1.0))
    5.0
    >>> w.grad.numpy().round(4)
    array([0.6, 0.8], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import functional as F
from ..tensor import Tensor


def clip_grad_norm(tensors: Tensor | Iterable[Tensor], max_norm: float,
                   ord: float = 2.0) -> Tensor:  # noqa: A002 - MegEngine's name
    """Scale all gradients together so that their joint ``ord``-norm is at most
    ``max_norm``; returns the norm before clipping."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = [t for t in tensors if t.grad is not None]
    if not tensors:
        return Tensor(0.0)
    norms = [F.norm(t.grad.flatten(), ord=ord) for t in tensors]
    total = F.norm(F.concat([F.reshape(n, (1,)) for n in norms]), ord=ord) \
        if len(norms) > 1 else norms[0]
    scale = F.minimum(max_norm / (total + 1e-6), 1.0)
    for t in tensors:
        t.grad.set_value(t.grad * scale)
    return total


def clip_grad_value(tensors: Tensor | Iterable[Tensor], lower: float, upper: float) -> None:
    """Clip every gradient elementwise to ``[lower, upper]``."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    for t in tensors:
        if t.grad is not None:
            t.grad.set_value(F.clip(t.grad, lower, upper))


__all__ = ["clip_grad_norm", "clip_grad_value"]
