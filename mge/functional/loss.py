"""Loss functions (MegEngine's ``F.loss``, also under ``F.nn``), composed of ``F`` ops so
that they differentiate through the ops' gradient rules.

``reduction`` is ``"mean"`` (default), ``"sum"`` or ``"none"``.

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> pred = mge.tensor([[0.0, 0.0], [0.0, 0.0]])
    >>> F.nn.cross_entropy(pred, mge.tensor([0, 1])).numpy().round(4)
    array(0.6931, dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from . import math as _math
from .elemwise import abs, as_tensor, equal, log, logsigmoid, mul, relu, sub  # noqa: A004
from .nn import logsumexp
from .tensor import expand_dims

_REDUCTIONS = ("mean", "sum", "none")


def _reduce_output(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Give a per-sample loss MegEngine's ``reduction`` argument."""
    def reduced(*args: Any, reduction: str = "mean", **kwargs: Any) -> Tensor:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{reduction} is not a valid value for reduction")
        loss = fn(*args, **kwargs)
        if reduction == "none":
            return loss
        return _math.mean(loss) if reduction == "mean" else _math.sum(loss)

    reduced.__name__ = reduced.__qualname__ = fn.__name__
    reduced.__doc__ = fn.__doc__
    return traceable(reduced)


@_reduce_output
def l1_loss(pred: Tensor, label: Tensor) -> Tensor:
    """``|pred - label|``.

    Example:
        >>> F.nn.l1_loss(mge.tensor([3.0, 3.0]), mge.tensor([2.0, 5.0])).numpy()
        array(1.5, dtype=float32)
    """
    return abs(sub(pred, label))


@_reduce_output
def square_loss(pred: Tensor, label: Tensor) -> Tensor:
    """``(pred - label) ** 2``.

    Example:
        >>> F.nn.square_loss(mge.tensor([3.0, 3.0]), mge.tensor([2.0, 5.0])).numpy()
        array(2.5, dtype=float32)
    """
    diff = sub(pred, label)
    return mul(diff, diff)


def _pick(pred: Tensor, label: Tensor, axis: int) -> Tensor:
    """``pred``'s entry at ``label`` along ``axis`` (a one-hot mask, differentiable)."""
    classes = pred.shape[axis]
    shape = [1] * pred.ndim
    shape[axis] = classes
    ids = Tensor(np.arange(classes, dtype=np.int32).reshape(shape), device=pred.device)
    hot = equal(expand_dims(label.astype("int32"), axis), ids).astype(pred.dtype)
    return _math.sum(mul(pred, hot), axis=axis)


@_reduce_output
def cross_entropy(pred: Tensor, label: Tensor, axis: int = 1, with_logits: bool = True,
                  label_smooth: float = 0) -> Tensor:
    """Cross entropy of ``pred`` (logits, or probabilities unless ``with_logits``) along
    ``axis`` against integer class ``label``\\ s, with optional label smoothing.

    Raises:
        ValueError: ``label`` not of one dim less than ``pred``.

    Example:
        >>> F.nn.cross_entropy(mge.tensor([[0.0, 0.0]]), mge.tensor([1]),
        ...                    reduction="none").numpy().round(4)
        array([0.6931], dtype=float32)
    """
    pred, label = as_tensor(pred), as_tensor(label)
    if pred.ndim != label.ndim + 1:
        raise ValueError("cross_entropy: target ndim must be one less than input ndim; "
                         f"input_ndim={pred.ndim} target_ndim={label.ndim}")
    axis = axis % pred.ndim
    if with_logits:
        log_z, primary = logsumexp(pred, axis), _pick(pred, label, axis)
    else:
        log_z, primary = None, log(_pick(pred, label, axis))
    if not label_smooth:
        return sub(log_z, primary) if log_z is not None else mul(primary, -1.0)
    logp = pred if with_logits else log(pred)
    smooth = sub(mul(_math.mean(logp, axis=axis), label_smooth),
                 mul(primary, label_smooth - 1.0))
    return sub(log_z, smooth) if log_z is not None else mul(smooth, -1.0)


@_reduce_output
def binary_cross_entropy(pred: Tensor, label: Tensor, with_logits: bool = True) -> Tensor:
    """``-(label * log p + (1 - label) * log(1 - p))`` with ``p = sigmoid(pred)`` (or
    ``pred`` itself unless ``with_logits``).

    Example:
        >>> F.nn.binary_cross_entropy(mge.tensor([0.0]), mge.tensor([1.0])).numpy().round(4)
        array(0.6931, dtype=float32)
    """
    pred, label = as_tensor(pred), as_tensor(label)
    if not with_logits:
        pos, neg = log(pred), log(sub(1.0, pred))
    else:
        pos, neg = logsigmoid(pred), logsigmoid(mul(pred, -1.0))
    return mul(sub(mul(label, pos), mul(sub(label, 1.0), neg)), -1.0)


@_reduce_output
def hinge_loss(pred: Tensor, label: Tensor, norm: str = "L1") -> Tensor:
    """``sum(max(0, 1 - pred * label))`` over axis 1 (squared terms for ``norm="L2"``).

    Example:
        >>> F.nn.hinge_loss(mge.tensor([[0.5, -2.0]]), mge.tensor([[1.0, -1.0]])).numpy()
        array(0.5, dtype=float32)
    """
    norm = norm.upper()
    assert norm in ("L1", "L2"), "norm must be L1 or L2"
    loss = relu(sub(1.0, mul(pred, label)))
    return _math.sum(loss if norm == "L1" else mul(loss, loss), axis=1)


__all__ = ["binary_cross_entropy", "cross_entropy", "hinge_loss", "l1_loss", "square_loss"]
