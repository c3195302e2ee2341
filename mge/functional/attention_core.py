"""Scaled dot-product attention with masks: the one core of mge's attentions.

``F.nn.multi_head_attention`` (MegEngine's rounding) and the ONNX ``Attention`` converter
(ONNX's reference rounding) both call :func:`scaled_dot_product`; they differ only in the
options below, which name the places where the two definitions round or mask differently:

- ``split_scale``: MegEngine scales the product ``(q @ k^T) * scale``; ONNX scales ``q`` and
  ``k`` by ``sqrt(scale)`` each before the product.
- ``softcap``: ONNX's ``softcap * tanh(qk / softcap)`` before the bias.
- ``safe_rows``: ONNX gives zeros for a query row whose bias is ``-inf`` everywhere
  (MegEngine's softmax gives NaN there, as its kernel does).
- ``softmax_dtype``: ONNX's softmax precision; the weights are cast back to ``q``'s dtype.
- ``dropout``/``training``: MegEngine's attention dropout on the weights.

:func:`additive_mask` turns a boolean mask into the additive ``0``/``-inf`` form, with
either convention (MegEngine: ``True`` = ignore; ONNX: ``True`` = attend).

Example:
    >>> import mge
    >>> q = mge.tensor(np.eye(2, dtype="float32")[None])
    >>> parts = scaled_dot_product(q, q, q, scale=1.0)
    >>> parts.out.shape, (parts.weights.numpy() * 1000).round().astype(int).tolist()
    ((1, 2, 2), [[[731, 269], [269, 731]]])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..core.tensor.base import Tensor
from .elemwise import add, astype, div, equal, exp, mul, sub, tanh
from .math import matmul, max, sum  # noqa: A004 - F's names
from .nn import dropout as apply_dropout
from .softmax import softmax
from .tensor import where

__all__ = ["AttentionParts", "additive_mask", "scaled_dot_product"]


class AttentionParts(NamedTuple):
    """What :func:`scaled_dot_product` computes, for callers that expose intermediates:
    ``qk`` (scaled product, after softcap), ``scores`` (``qk`` plus the bias), ``weights``
    (the softmax, after dropout / masked-row zeros) and ``out`` (``weights @ v``)."""

    out: Tensor
    weights: Tensor
    qk: Tensor
    scores: Tensor


def additive_mask(mask: Tensor | None, dtype: np.dtype, true_means: str = "ignore"
                  ) -> Tensor | None:
    """``mask`` as a bias added to the scores: a boolean one becomes ``-inf`` where it says
    ignore (``true_means="ignore"``: where True, MegEngine's; ``"attend"``: where False,
    ONNX's) and ``0`` elsewhere; any other mask is returned as it is."""
    if mask is None or np.dtype(mask.dtype) != np.bool_:
        return mask
    zero, ninf = Tensor(np.zeros((), dtype)), Tensor(np.full((), -np.inf, dtype))
    return where(mask, ninf, zero) if true_means == "ignore" else where(mask, zero, ninf)


def _safe_softmax(x: Tensor) -> Tensor:
    """Softmax over the last axis; a row of ``-inf`` gives zeros (not NaN)."""
    top = max(x, axis=-1, keepdims=True)
    top = where(equal(top, float("-inf")), Tensor(np.zeros((), top.dtype)), top)
    e = exp(sub(x, top))
    total = sum(e, axis=-1, keepdims=True)
    total = where(equal(total, 0), Tensor(np.ones((), total.dtype)), total)
    return div(e, total)


def scaled_dot_product(
    q: Tensor, k: Tensor, v: Tensor, scale: float, bias: Tensor | None = None, *,
    split_scale: bool = False, softcap: float = 0.0, softmax_dtype: str | None = None,
    safe_rows: bool = False, dropout: float = 0.0, training: bool = False,
) -> AttentionParts:
    """``softmax(q @ k^T * scale + bias) @ v`` over the last two axes (any batch axes in
    front, broadcast as ``F.matmul`` does); see the module docstring for the options."""
    dtype = np.dtype(q.dtype)
    if split_scale:
        root = Tensor(np.asarray(math.sqrt(scale), dtype=dtype))
        qk = matmul(mul(q, root), mul(k, root), transpose_b=True)
    else:
        qk = mul(matmul(q, k, transpose_b=True), float(scale))
    if softcap > 0:
        qk = mul(tanh(div(qk, softcap)), softcap)
    scores = qk if bias is None else add(qk, bias)
    logits = scores if softmax_dtype is None else astype(scores, softmax_dtype)
    if safe_rows:
        weights = _safe_softmax(logits)
        if bias is not None:
            masked_row = equal(max(bias, axis=-1, keepdims=True), float("-inf"))
            weights = where(masked_row, Tensor(np.zeros((), weights.dtype)), weights)
    else:
        weights = softmax(logits, axis=-1)
    if dropout and training:
        weights = apply_dropout(weights, dropout, training=True)
    out = matmul(weights if weights.dtype == dtype else astype(weights, dtype), v)
    return AttentionParts(out, weights, qk, scores)
