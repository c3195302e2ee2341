"""Lookups by integer index: ``embedding``, ``one_hot`` and ``indexing_one_hot`` (``F.nn``).

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> F.nn.one_hot(mge.tensor([0, 2]), 3).numpy()
    array([[1, 0, 0],
           [0, 0, 1]], dtype=int32)
"""

from __future__ import annotations

from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ._args import check_axis, to_tensor
from .elemwise import astype, equal
from .indexing import getitem
from .tensor import arange, expand_dims, gather, reshape, squeeze


def _int_index(fn: str, index: object, arg: str) -> Tensor:
    t = to_tensor(fn, index, arg)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {arg} must hold integers, got {t.dtype} {t.shape}")
    return t


@traceable
def one_hot(inp: Tensor, num_classes: int) -> Tensor:
    """``out[..., c] = 1`` where ``c == inp[...]``, else 0; shape ``inp.shape + (num_classes,)``.

    The result has ``inp``'s (integer) dtype.

    Raises:
        TypeError: a non-integer ``inp``.

    Example:
        >>> F.one_hot(mge.tensor([1]), 3).numpy()
        array([[0, 1, 0]], dtype=int32)
    """
    x = _int_index("one_hot", inp, "inp")
    classes = arange(int(num_classes), dtype=x.dtype, device=x.device)
    return astype(equal(expand_dims(x, -1), classes), x.dtype)


@traceable
def indexing_one_hot(src: Tensor, index: Tensor, axis: int = 1, keepdims: bool = False
                     ) -> Tensor:
    """Pick ``src[..., index[...], ...]`` along ``axis``: one entry per position of ``index``.

    ``index`` has ``src``'s shape without ``axis``; the result keeps ``axis`` as size 1
    when ``keepdims``.

    Raises:
        TypeError: a non-integer ``index``.
        ValueError: ``axis`` out of range or an ``index`` shape that does not match.

    Example:
        >>> src = mge.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> F.nn.indexing_one_hot(src, mge.tensor([1, 0])).numpy()
        array([2., 3.], dtype=float32)
    """
    fn = "indexing_one_hot"
    x = to_tensor(fn, src, "src")
    ax = check_axis(fn, axis, x.ndim, x.shape)
    idx = _int_index(fn, index, "index")
    if idx.shape != x.shape[:ax] + x.shape[ax + 1:]:
        raise ValueError(f"{fn}: index {idx.shape} must be src {x.shape} without axis {axis}")
    picked = gather(x, ax, expand_dims(idx, ax))
    return picked if keepdims else squeeze(picked, ax)


@traceable
def embedding(inp: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float | None = None) -> Tensor:
    """Rows of ``weight`` (``(num_embeddings, dim)``) picked by the integers of ``inp``.

    The result has shape ``inp.shape + (dim,)``. ``padding_idx``, ``max_norm`` and
    ``norm_type`` are not supported, as in MegEngine (``ValueError``).

    Example:
        >>> w = mge.tensor([[0.0, 0.0], [1.0, 1.0]])
        >>> F.embedding(mge.tensor([[1, 0]]), w).shape
        (1, 2, 2)
    """
    if padding_idx is not None:
        raise ValueError("Not support padding_idx Now!")
    if max_norm is not None or norm_type is not None:
        raise ValueError("Not support weight normlization Now!")
    idx = _int_index("embedding", inp, "inp")
    table = to_tensor("embedding", weight, "weight")
    rows = getitem(table, reshape(idx, (-1,)))
    return reshape(rows, (*idx.shape, table.shape[-1]))


__all__ = ["embedding", "indexing_one_hot", "one_hot"]
