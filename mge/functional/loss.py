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
from .elemwise import (  # noqa: A004
    abs,
    add,
    as_tensor,
    div,
    equal,
    log,
    logaddexp,
    logsigmoid,
    maximum,
    mul,
    relu,
    sub,
)
from .math import matmul
from .softmax import logsumexp
from .tensor import concat, expand_dims, transpose

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


def _expand_labels(label: np.ndarray, lengths: np.ndarray, blank: int) -> np.ndarray:
    """``(N, 2S+1)`` labels with a blank before, between and after the symbols."""
    n = len(lengths)
    if label.ndim == 1:  # concatenated
        packed = np.full((n, int(lengths.max())), blank, np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for k, (start, size) in enumerate(zip(starts, lengths)):
            packed[k, :size] = label[start:start + size]
        label = packed
    expanded = np.full((n, 2 * label.shape[1] + 1), blank, np.int64)
    expanded[:, 1::2] = label
    return expanded


def _check_ctc(pred: Tensor, pred_lengths: np.ndarray, label: np.ndarray,
               label_lengths: np.ndarray, blank: int) -> None:
    t, n, c = pred.shape
    assert pred_lengths.size == n, \
        f"pred_lengths must be equal to batch_size {n}, but got {pred_lengths.size}"
    assert label_lengths.size == n, \
        f"label_lengths must be euqal to batch_size {n}, but got {label_lengths.size}"
    assert 0 <= blank < c, f"blank must be in label range [0, {c}), but got {blank}"
    assert pred_lengths.min() > 0 and pred_lengths.max() <= t, (
        f"pred_lengths must be in range (0, {t}], bug got min {pred_lengths.min()}, "
        f"max {pred_lengths.max()}")
    if label.ndim == 1:
        assert label_lengths.min() > 0, "label lengths muse be positive"
        assert label.size == label_lengths.sum(), \
            "label size must be equal to sum(label_lengths)"
    else:
        s = label.shape[1]
        assert label_lengths.min() > 0 and label_lengths.max() <= s, (
            f"label_lengths must be in range (0, {s}], bug got min {label_lengths.min()}, "
            f"max {label_lengths.max()}")


@traceable
def ctc_loss(pred: Tensor, pred_lengths: Tensor, label: Tensor, label_lengths: Tensor,
             blank: int = 0, reduction: str = "mean") -> Tensor:
    """Connectionist Temporal Classification loss of probabilities ``pred`` ``(T, N, C)``.

    The forward (alpha) recursion in log space over the blank-expanded labels, made of
    ``F`` ops (differentiable). ``label`` is ``(N, S)`` or the concatenation of the
    sequences; lengths and labels are read on the host. ``"mean"`` divides each loss by
    its label length before averaging.

    Example:
        >>> pred = mge.tensor([[[0.0614, 0.9386], [0.8812, 0.1188]],
        ...                    [[0.699, 0.301], [0.2572, 0.7428]]])
        >>> F.nn.ctc_loss(pred, mge.tensor([2, 2]), mge.tensor([1, 1]),
        ...               mge.tensor([1, 1])).numpy().round(4)
        array(0.1504, dtype=float32)
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    pred = as_tensor(pred)
    lengths_in = np.asarray(as_tensor(pred_lengths).numpy(), np.int64).reshape(-1)
    label_np = np.asarray(as_tensor(label).numpy(), np.int64)
    lengths_out = np.asarray(as_tensor(label_lengths).numpy(), np.int64).reshape(-1)
    _check_ctc(pred, lengths_in, label_np, lengths_out, blank)
    steps, n, classes = pred.shape
    expanded = _expand_labels(label_np, lengths_out, blank)
    width = expanded.shape[1]
    dtype, device = pred.dtype, pred.device

    def const(value: np.ndarray) -> Tensor:
        return Tensor(value.astype(dtype), device=device)

    onehot = const(np.eye(classes)[expanded])  # (N, L, C)
    tiny = float(np.finfo(dtype).tiny)
    probs = matmul(onehot, transpose(pred, (1, 2, 0)))  # (N, L, T): p of each label at t
    logp = log(maximum(probs, tiny))
    skip = np.zeros((n, width))
    skip[:, 2:] = expanded[:, 2:] != expanded[:, :-2]
    skip = const(skip[:, 2:])
    rows = np.arange(n)
    last_blank, last_symbol = np.zeros((n, width)), np.zeros((n, width))
    last_blank[rows, 2 * lengths_out] = 1
    last_symbol[rows, 2 * lengths_out - 1] = 1
    last_blank, last_symbol = const(last_blank), const(last_symbol)
    alpha = concat([logp[:, :2, 0], const(np.full((n, width - 2), np.log(tiny)))], axis=1)
    total = None
    for t in range(steps):
        if t:
            step = concat([alpha[:, :1], logaddexp(alpha[:, 1:], alpha[:, :-1])], axis=1)
            tail = step[:, 2:]
            tail = add(mul(tail, sub(1.0, skip)), mul(logaddexp(tail, alpha[:, :-2]), skip))
            alpha = add(concat([step[:, :2], tail], axis=1), logp[:, :, t])
        ends = lengths_in - 1 == t
        if ends.any():
            end = logaddexp(_math.sum(mul(alpha, last_blank), axis=1),
                            _math.sum(mul(alpha, last_symbol), axis=1))
            part = mul(end, const(-ends.astype(np.float64)))
            total = part if total is None else add(total, part)
    if reduction == "none":
        return total
    if reduction == "sum":
        return _math.sum(total)
    return _math.mean(div(total, const(lengths_out.astype(np.float64))))


__all__ = ["binary_cross_entropy", "cross_entropy", "ctc_loss", "hinge_loss", "l1_loss",
           "square_loss"]
