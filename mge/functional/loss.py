"""Loss functions (MegEngine ``F.nn`` losses), composed from elementwise ops and reductions.

Each takes ``reduction``: ``"mean"`` (default) or ``"sum"`` over every element of the
per-sample loss, or ``"none"`` for the loss itself.

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> pred = mge.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> F.nn.cross_entropy(pred, mge.tensor([0, 1])).numpy().round(4)
    array(0.1269, dtype=float32)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from . import math as _math
from ._args import option
from .elemwise import abs as _abs
from .elemwise import as_tensor, log, logsigmoid, mul, neg, relu, square, sub
from .embedding import indexing_one_hot
from .softmax import logsumexp

_REDUCTIONS = {"mean": _math.mean, "sum": _math.sum}


def _reduce_output(loss_fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Give ``loss_fn`` MegEngine's ``reduction`` keyword (``"mean"``, ``"sum"``, ``"none"``)."""

    @functools.wraps(loss_fn)
    def reduced(*args: Any, reduction: str = "mean", **kwargs: Any) -> Tensor:
        if reduction not in ("none", *_REDUCTIONS):  # lower case only, as in MegEngine
            raise ValueError(f"{reduction} is not a valid value for reduction")
        loss = loss_fn(*args, **kwargs)
        return loss if reduction == "none" else _REDUCTIONS[reduction](loss)

    return traceable(reduced)


@_reduce_output
def l1_loss(pred: Tensor, label: Tensor) -> Tensor:
    """Mean absolute error ``|pred - label|``.

    Example:
        >>> F.nn.l1_loss(mge.tensor([1.0, 3.0]), mge.tensor([2.0, 2.0])).numpy()
        array(1., dtype=float32)
    """
    return _abs(sub(pred, label))


@_reduce_output
def square_loss(pred: Tensor, label: Tensor) -> Tensor:
    """Mean squared error ``(pred - label) ** 2``.

    Example:
        >>> F.nn.square_loss(mge.tensor([1.0, 3.0]), mge.tensor([2.0, 2.0])).numpy()
        array(1., dtype=float32)
    """
    return square(sub(pred, label))


@_reduce_output
def cross_entropy(pred: Tensor, label: Tensor, axis: int = 1, with_logits: bool = True,
                  label_smooth: float = 0) -> Tensor:
    """Cross entropy of class scores ``pred`` against integer class ``label`` along ``axis``.

    ``pred`` has one more dim than ``label``. With ``with_logits`` it holds logits (a
    log-softmax is applied), else probabilities. ``label_smooth`` mixes the one-hot target
    with the uniform distribution: ``logZ - ls * mean(log p) - (1 - ls) * log p[label]``.

    Raises:
        ValueError: ``pred.ndim != label.ndim + 1``.

    Example:
        >>> F.nn.cross_entropy(mge.tensor([[0.0, 0.0]]), mge.tensor([1])).numpy().round(4)
        array(0.6931, dtype=float32)
    """
    pred, label = as_tensor(pred), as_tensor(label)
    if pred.ndim != label.ndim + 1:
        raise ValueError(
            "cross_entropy: target ndim must be one less than input ndim; "
            f"input_ndim={pred.ndim} target_ndim={label.ndim}"
        )
    if with_logits:
        log_z: Tensor | float = logsumexp(pred, axis)
        primary = indexing_one_hot(pred, label, axis)
    else:
        log_z = 0.0
        primary = log(indexing_one_hot(pred, label, axis))
    if not label_smooth:
        return sub(log_z, primary)
    log_pred = pred if with_logits else log(pred)
    smooth = mul(label_smooth, _math.mean(log_pred, axis))
    return sub(sub(log_z, smooth), mul(1 - label_smooth, primary))


@_reduce_output
def binary_cross_entropy(pred: Tensor, label: Tensor, with_logits: bool = True) -> Tensor:
    """``-(label * log p + (1 - label) * log(1 - p))`` with ``p = sigmoid(pred)`` for logits.

    Example:
        >>> F.nn.binary_cross_entropy(mge.tensor([0.0]), mge.tensor([1.0])).numpy().round(4)
        array(0.6931, dtype=float32)
    """
    if not with_logits:
        return neg(label * log(pred) + (1 - label) * log(1 - as_tensor(pred)))
    return neg(label * logsigmoid(pred) + (1 - label) * logsigmoid(neg(pred)))


@_reduce_output
def hinge_loss(pred: Tensor, label: Tensor, norm: str = "L1") -> Tensor:
    """Hinge loss ``sum(max(0, 1 - pred * label), axis=1)`` for labels in {-1, 1}.

    ``norm="L2"`` squares each term before the sum.

    Raises:
        ValueError: ``norm`` other than ``"L1"`` or ``"L2"``.

    Example:
        >>> F.nn.hinge_loss(mge.tensor([[0.5, -2.0]]), mge.tensor([[1.0, -1.0]])).numpy()
        array(0.5, dtype=float32)
    """
    mode = option("hinge_loss", "norm", norm, ("L1", "L2"))
    loss = relu(1.0 - mul(pred, label))
    return _math.sum(loss if mode == "L1" else square(loss), axis=1)


__all__ = ["binary_cross_entropy", "cross_entropy", "hinge_loss", "l1_loss", "square_loss"]
