"""ONNX converters for the loss ops ``NegativeLogLikelihoodLoss`` and
``SoftmaxCrossEntropyLoss``, composed of MegEngine's ``gather``, ``logsoftmax``,
elementwise ops and reductions (see :mod:`.node`).

Both take scores ``[N, C]`` or ``[N, C, d1, ..., dk]`` and class indices ``[N]`` or
``[N, d1, ..., dk]``, with optional per-class weights ``[C]``. Entries whose target is
``ignore_index`` contribute 0 and weigh 0 in the ``mean`` reduction (sum of the losses
over the sum of the weights of the entries kept, as ONNX defines it).

Example:
    >>> import mge
    >>> loss = NllLoss("mean", None)
    >>> log_prob = mge.tensor([[-0.5, -1.0], [-2.0, -0.25]])
    >>> float(loss(None, log_prob, mge.tensor([1, 1])).numpy())
    0.625
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter

_REDUCTIONS = ("none", "sum", "mean")


def _nll(log_prob: Tensor, target: Tensor, weight: Tensor | None, reduction: str,
         ignore_index: int | None) -> Tensor:
    """ONNX's negative log-likelihood of ``log_prob`` ``[N, C, ...]`` at ``target``."""
    target = F.astype(target, "int32")
    keep = None
    if ignore_index is not None:
        keep = F.not_equal(target, F.full_like(target, ignore_index))
        target = F.where(keep, target, F.zeros_like(target))
    picked = F.squeeze(F.gather(log_prob, 1, F.expand_dims(target, 1)), 1)
    if weight is not None:
        flat = F.gather(weight, 0, F.reshape(target, (-1,)))
        scale = F.reshape(flat, target.shape)
    else:
        scale = F.ones_like(picked)
    if keep is not None:
        scale = F.where(keep, scale, F.zeros_like(scale))
    loss = F.neg(F.mul(picked, scale))
    if reduction == "none":
        return loss
    total = F.sum(loss)
    return total if reduction == "sum" else F.div(total, F.sum(scale))


@dataclasses.dataclass(frozen=True)
class NllLoss(OnnxOp):
    """ONNX NegativeLogLikelihoodLoss: ``-log_prob[n, target[n, ...], ...] * weight``."""

    reduction: str
    ignore_index: int | None

    def __call__(self, mod: Any, log_prob: Tensor, target: Tensor,
                 weight: Tensor | None = None) -> Tensor:
        return _nll(log_prob, target, weight, self.reduction, self.ignore_index)


@dataclasses.dataclass(frozen=True)
class SoftmaxCrossEntropy(OnnxOp):
    """ONNX SoftmaxCrossEntropyLoss: the NLL of ``logsoftmax(scores, axis=1)``; returns the
    loss and the log-probabilities."""

    reduction: str
    ignore_index: int | None

    def __call__(self, mod: Any, scores: Tensor, target: Tensor,
                 weight: Tensor | None = None) -> tuple[Tensor, Tensor]:
        log_prob = F.logsoftmax(scores, axis=1)
        return _nll(log_prob, target, weight, self.reduction, self.ignore_index), log_prob


@converter("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss")
def _loss(node: Node, ctx: Any) -> Converted:
    reduction = node.attr("reduction", "mean")
    if reduction not in _REDUCTIONS:
        raise Unsupported(f"reduction {reduction!r} (one of {_REDUCTIONS})")
    ignore = node.attr("ignore_index")
    ignore = None if ignore is None else int(ignore)
    if node.op_type == "NegativeLogLikelihoodLoss":
        return NllLoss(reduction, ignore), [i for i in node.inputs if i], node.outputs[:1]
    outputs = [o for o in node.outputs if o]
    return SoftmaxCrossEntropy(reduction, ignore), [i for i in node.inputs if i], outputs


__all__: list[str] = []
