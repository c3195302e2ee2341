"""The batch rules several op families share (``dynamic_batch`` ONNX export).

mge graphs have static shapes. To export a graph whose batch size is free, every var
gets a *batch dim* ``(axis, mult)``: its size along ``axis`` is ``batch * mult`` and
every other size is fixed. An op's ``batch_rule(node, dims) -> dims`` carries the dims of
its inputs to its outputs (elementwise ops keep them aligned, ``Reshape`` finds the
output dim the batch flows into...) or raises :class:`Blocked` with the reason.

Example:
    >>> batch_rule(Elemwise, TypeCvt)(aligned)                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..graph.ir import OpNode

#: ``(axis, mult)``: the var's size along ``axis`` is ``batch * mult``
BatchDim = tuple[int, int]
#: the name of the symbolic batch dimension in exported ONNX models (float and QDQ)
BATCH_DIM_NAME = "batch"
BatchRule = Callable[["OpNode", list["BatchDim | None"]], list["BatchDim | None"]]


class Blocked(Exception):
    """The batch cannot be followed through an op (the reason is the message)."""


def aligned(node: OpNode, dims: list[BatchDim | None], sources: Sequence[int] | None = None
            ) -> list[BatchDim | None]:
    """The outputs keep the batch dim of the ``sources`` inputs (default: all), which
    broadcast with the outputs (aligned from the right); other inputs carry no batch."""
    sources = range(len(dims)) if sources is None else [k for k in sources if k < len(dims)]
    if any(d is not None for k, d in enumerate(dims) if k not in sources):
        raise Blocked("only the data inputs may carry the batch")
    found = {dims[k][0] - node.inputs[k].ndim for k in sources if dims[k] is not None}
    if len(found) > 1:
        raise Blocked("the inputs carry the batch on different axes")
    if not found:
        return [None] * len(node.outputs)
    (neg,) = found
    for k in sources:
        src = node.inputs[k]
        if src.ndim + neg < 0:
            continue
        size = src.shape[src.ndim + neg]
        if dims[k] is None and size != 1:
            raise Blocked(f"input {k} has the batch size {size} baked in")
        for out in node.outputs:
            if out.ndim + neg < 0 or (dims[k] is not None and out.shape[out.ndim + neg] != size):
                raise Blocked(f"the batch axis of input {k} does not reach the output")
    mult = next(d[1] for d in dims if d is not None)
    return [(out.ndim + neg, mult) for out in node.outputs]


def data_inputs(*sources: int) -> BatchRule:
    """The rule of ops whose ``sources`` inputs carry the batch, aligned with the outputs."""
    return lambda node, dims: aligned(node, dims, sources)


def not_batched(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    """Outputs that carry no batch whatever the inputs (a shape)."""
    return [None] * len(node.outputs)


__all__ = ["BATCH_DIM_NAME", "BatchDim", "BatchRule", "Blocked", "aligned", "data_inputs",
           "not_batched"]
