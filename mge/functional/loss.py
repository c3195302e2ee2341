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

import numpy as np

from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from . import math as _math
from ._args import option
from .elemwise import abs as _abs
from .elemwise import (
    add,
    as_tensor,
    astype,
    div,
    equal,
    log,
    logaddexp,
    logsigmoid,
    maximum,
    mul,
    neg,
    not_equal,
    relu,
    square,
    sub,
)
from .embedding import indexing_one_hot
from .math import cumsum
from .softmax import logsumexp
from .tensor import arange, broadcast_to, ones, reshape, transpose, zeros

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


def _label_rows(lengths: Tensor) -> Tensor:
    """The row of each element of the concatenated labels (MegEngine's cumsum trick)."""
    marks = zeros(int(_math.sum(lengths).item()), dtype="int32")
    marks[cumsum(lengths, axis=0)[:-1]] = 1
    return cumsum(marks, axis=0)


def _label_offsets(lengths: Tensor) -> Tensor:
    """The position inside its row of each element of the concatenated labels."""
    marks = ones(int(_math.sum(lengths).item()), dtype="int32")
    marks[cumsum(lengths, axis=0)[:-1]] = neg(sub(lengths, 1))[:-1]
    return sub(cumsum(marks, axis=0), 1)


def _expand_label(label: Tensor, label_lengths: Tensor, blank: int) -> Tensor:
    """``(N, 2 * S + 1)`` labels with ``blank`` before, between and after the symbols."""
    n = label_lengths.shape[0]
    if label.ndim == 1:  # concatenated labels: unpack into rows padded with blank
        rows = add(zeros((n, int(_math.max(label_lengths).item())), dtype="int32"), blank)
        rows[_label_rows(label_lengths), _label_offsets(label_lengths)] = label
        label = rows
    expanded = add(zeros((n, label.shape[1] * 2 + 1), dtype="int32"), blank)
    expanded[:, 1::2] = label
    return expanded


def _safe_log(x: Tensor) -> Tensor:
    return log(maximum(x, float(np.finfo(x.dtype).tiny)))


@traceable
def ctc_loss(pred: Tensor, pred_lengths: Tensor, label: Tensor, label_lengths: Tensor,
             blank: int = 0, reduction: str = "mean") -> Tensor:
    """Connectionist temporal classification loss of ``pred`` ``(T, N, C)`` probabilities.

    ``label`` is ``(N, S)`` padded labels or the 1-d concatenation of all labels;
    ``pred_lengths`` and ``label_lengths`` are ``(N,)``. The forward recursion runs in log
    space over the blank-expanded labels, as in MegEngine. ``reduction="mean"`` averages
    the per-sample losses divided by their label lengths.

    Raises:
        AssertionError: lengths or ``blank`` out of range (MegEngine's checks).
        ValueError: an unknown ``reduction``.

    Example:
        >>> probs = F.softmax(mge.tensor(np.zeros((3, 1, 2), "float32")), axis=-1)
        >>> F.nn.ctc_loss(probs, mge.tensor([3]), mge.tensor([[1]]), mge.tensor([1])).shape
        ()
    """
    if reduction not in ("none", *_REDUCTIONS):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    pred, pred_lengths = as_tensor(pred), as_tensor(pred_lengths)
    label, label_lengths = as_tensor(label), as_tensor(label_lengths)
    t_len, n, c = pred.shape
    assert pred_lengths.size == n, f"pred_lengths must be equal to batch_size {n}"
    assert label_lengths.size == n, f"label_lengths must be equal to batch_size {n}"
    assert 0 <= blank < c, f"blank must be in label range [0, {c}), but got {blank}"
    assert 0 < _math.min(pred_lengths).item() and _math.max(pred_lengths).item() <= t_len, \
        f"pred_lengths must be in range (0, {t_len}]"
    longest = label.size if label.ndim == 1 else label.shape[1]
    assert 0 < _math.min(label_lengths).item() and _math.max(label_lengths).item() <= longest, \
        "label_lengths must be positive and fit the labels"
    label = _expand_label(label, label_lengths, blank)
    width = label.shape[1]
    skip = astype(not_equal(label[:, 2:], label[:, :-2]), "float32")  # may skip a blank
    probs = transpose(pred, (1, 0, 2))
    rows = arange(n, dtype="int32")
    match = reshape(probs[reshape(broadcast_to(reshape(rows, (n, 1)), (n, width)), (-1,)), :,
                          reshape(label, (-1,))], (n, width, t_len))
    alpha = zeros((n, width), dtype="float32")
    alpha[:, :2] = match[:, :2, 0]
    alpha = _safe_log(alpha)
    last, before_last = mul(label_lengths, 2), sub(mul(label_lengths, 2), 1)
    loss = mul(neg(logaddexp(alpha[rows, last], alpha[rows, before_last])),
               equal(sub(pred_lengths, 1), 0))
    for t in range(1, t_len):
        two_back = alpha[:, :-2]
        alpha[:, 1:] = logaddexp(alpha[:, 1:], alpha[:, :-1])
        alpha[:, 2:] = add(mul(alpha[:, 2:], sub(1, skip)),
                           mul(logaddexp(alpha[:, 2:], two_back), skip))
        alpha = add(alpha, _safe_log(match[:, :, t]))
        step = neg(logaddexp(alpha[rows, last], alpha[rows, before_last]))
        loss = add(loss, mul(step, equal(sub(pred_lengths, 1), t)))
    if reduction == "mean":
        return _math.mean(div(loss, label_lengths))
    return loss if reduction == "none" else _math.sum(loss)


__all__ = [
    "binary_cross_entropy", "cross_entropy", "ctc_loss", "hinge_loss", "l1_loss", "square_loss",
]
