"""Metrics (MegEngine ``F.metric``): ``topk_accuracy``.

Example:
    >>> import mge, mge.functional as F
    >>> logits = mge.tensor([[0.1, 0.9], [0.8, 0.2]])
    >>> F.topk_accuracy(logits, mge.tensor([1, 1])).numpy()
    array(0.5, dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from . import math as _math
from ._args import to_tensor
from .elemwise import astype, div, equal
from .tensor import broadcast_to, expand_dims


@traceable
def topk_accuracy(logits: Tensor, target: Tensor, topk: int | Iterable[int] = 1
                  ) -> Tensor | list[Tensor]:
    """Fraction of rows whose ``target`` class is among the ``k`` largest ``logits``.

    ``logits`` is ``(batch, classes)`` and ``target`` ``(batch,)``. An iterable ``topk``
    gives one accuracy per ``k``.

    Example:
        >>> logits = mge.tensor([[0.1, 0.5, 0.4], [0.8, 0.05, 0.15]])
        >>> [a.item() for a in F.topk_accuracy(logits, mge.tensor([2, 1]), (1, 2))]
        [0.0, 0.5]
    """
    ks = (topk,) if isinstance(topk, int) else tuple(topk)
    scores = to_tensor("topk_accuracy", logits, "logits")
    labels = to_tensor("topk_accuracy", target, "target")
    _, pred = _math.topk(scores.detach(), k=max(ks), descending=True)
    accs = []
    for k in ks:
        hits = equal(pred[:, :k], broadcast_to(expand_dims(labels, 1), (labels.shape[0], k)))
        accs.append(div(_math.sum(astype(hits, "float32")), labels.shape[0]))
    return accs[0] if len(ks) == 1 else accs


__all__ = ["topk_accuracy"]
