"""Softmax and its log forms (MegEngine ``F.nn.softmax``, ``logsumexp``, ``logsoftmax``).

Example:
    >>> import mge, mge.functional as F
    >>> F.softmax(mge.tensor([1.0, 1.0])).numpy()
    array([0.5, 0.5], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.apply import apply
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..ops.nn import SoftmaxForward
from . import math as _math
from ._args import float_tensor
from .elemwise import add, div, exp, log, sub
from .tensor import reshape


def _softmax_axis(ndim: int) -> int:
    """MegEngine's default softmax axis: 0 for 0-, 1- and 3-d inputs, else 1."""
    return 0 if ndim in (0, 1, 3) else 1


@traceable
def softmax(inp: Tensor, axis: int | Sequence[int] | None = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis`` (default: MegEngine's rule, see below).

    The default axis is 0 for 0-, 1- and 3-d inputs and 1 otherwise. A sequence of axes
    normalizes over all of them.

    Example:
        >>> F.softmax(mge.tensor([[0.0, 0.0], [1.0, 1.0]])).numpy()
        array([[0.5, 0.5],
               [0.5, 0.5]], dtype=float32)
    """
    fn = "softmax"
    inp = float_tensor(fn, "inp", inp)
    axis = _softmax_axis(inp.ndim) if axis is None else axis
    if isinstance(axis, Sequence):
        shifted = exp(sub(inp, _math.max(inp.detach(), axis=list(axis), keepdims=True)))
        return div(shifted, _math.sum(shifted, axis=list(axis), keepdims=True))
    if not -inp.ndim <= axis < max(inp.ndim, 1):
        raise ValueError(f"{fn}: axis {axis} out of range for input {inp.shape}")
    if inp.ndim == 0:
        return reshape(apply(SoftmaxForward(axis=0), reshape(inp, (1,)))[0], ())
    return apply(SoftmaxForward(axis=int(axis)), inp)[0]


@traceable
def logsumexp(inp: Tensor, axis: int | Sequence[int], keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x), axis))``, computed stably around the max.

    Example:
        >>> F.logsumexp(mge.tensor([[0.0, 0.0]]), axis=1).numpy().round(4)
        array([0.6931], dtype=float32)
    """
    inp = float_tensor("logsumexp", "inp", inp)
    peak = _math.max(inp.detach(), axis=axis, keepdims=True)
    total = log(_math.sum(exp(sub(inp, peak)), axis=axis, keepdims=keepdims))
    return add(peak if keepdims else reshape(peak, total.shape), total)


@traceable
def logsoftmax(inp: Tensor, axis: int | Sequence[int]) -> Tensor:
    """``log(softmax(x))`` along ``axis``, computed as ``x - logsumexp(x)``.

    Example:
        >>> F.logsoftmax(mge.tensor([[0.0, 0.0]]), axis=1).numpy().round(4)
        array([[-0.6931, -0.6931]], dtype=float32)
    """
    return sub(inp, logsumexp(inp, axis, keepdims=True))


log_softmax = logsoftmax  # torch-style name (MegEngine has only logsoftmax)


__all__ = ["logsoftmax", "logsumexp", "softmax"]
