"""Gradient rules of the shape family: reshapes, broadcasts, permutations, concatenation,
constant padding and indexing (written with ops through ``ctx``, see ``mge.ops.registry``).

Example:
    >>> Reshape.grad_rule is reshape_grad
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..registry import grad_rule
from .condtake import CondTake
from .indexing import (
    IndexingIncrMultiAxisVec,
    IndexingMultiAxisVec,
    IndexingSetMultiAxisVec,
    SetSubtensor,
    Subtensor,
)
from .shape import AxisAddRemove, Broadcast, Concat, Dimshuffle, Padding, Reshape

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor

Grads = list["Tensor | None"]


@grad_rule(Reshape, AxisAddRemove)
def reshape_grad(op: Reshape | AxisAddRemove, ctx: GradContext) -> Grads:
    """The gradient reshaped back to the input's shape (none for a shape input)."""
    return [ctx.reshape(ctx.grad(0), ctx.inputs[0].shape), *[None] * (len(ctx.inputs) - 1)]


@grad_rule(Broadcast)
def broadcast_grad(op: Broadcast, ctx: GradContext) -> Grads:
    """The gradient summed over the broadcast axes (none for a shape input)."""
    return [ctx.sum_to(ctx.grad(0), ctx.inputs[0].shape), *[None] * (len(ctx.inputs) - 1)]


@grad_rule(Dimshuffle)
def dimshuffle_grad(op: Dimshuffle, ctx: GradContext) -> Grads:
    """New axes dropped, then the inverse permutation (dropped size-1 axes come back)."""
    x, dy = ctx.inputs[0], ctx.grad(0)
    kept = [p for p in op.pattern if p != -1]
    dy = ctx.reshape(dy, [d for d, p in zip(dy.shape, op.pattern) if p != -1])
    back = tuple(kept.index(i) if i in kept else -1 for i in range(x.ndim))
    return [ctx.one(Dimshuffle(pattern=back), dy)]


@grad_rule(Concat)
def concat_grad(op: Concat, ctx: GradContext) -> Grads:
    """The gradient sliced back into the inputs' parts."""
    dy, axis = ctx.grad(0), op.axis % ctx.inputs[0].ndim
    grads, start = [], 0
    for x in ctx.inputs:
        stop = start + x.shape[axis]
        grads.append(ctx.one(Subtensor(items=((axis, start, stop, 1, None),)), dy))
        start = stop
    return grads


@grad_rule(Padding)
def padding_grad(op: Padding, ctx: GradContext) -> Grads:
    """``CONSTANT`` padding: the gradient of the unpadded part (other modes have no rule)."""
    if op.padding_mode != "CONSTANT":
        raise NotImplementedError(f"no gradient rule for {op} (only CONSTANT padding)")
    x = ctx.inputs[0]
    items = tuple((k, front, front + d, 1, None)
                  for k, (d, (front, _)) in enumerate(zip(x.shape, op.pad_width(x.ndim))))
    return [ctx.one(Subtensor(items=items), ctx.grad(0))]


@grad_rule(Subtensor)
def subtensor_grad(op: Subtensor, ctx: GradContext) -> Grads:
    """The gradient written into zeros at the selected places."""
    x = ctx.inputs[0]
    return [ctx.one(SetSubtensor(items=op.items), ctx.const(0.0, x, x.shape), ctx.grad(0))]


@grad_rule(SetSubtensor, IndexingSetMultiAxisVec)
def set_subtensor_grad(op: SetSubtensor | IndexingSetMultiAxisVec, ctx: GradContext) -> Grads:
    """Data: the gradient with the overwritten places zeroed; value: the gradient there."""
    data, value, *index = ctx.inputs
    dy = ctx.grad(0)
    getter = Subtensor(items=op.items) if isinstance(op, SetSubtensor) else \
        IndexingMultiAxisVec(items=op.items)
    if index:
        _check_unique(op, ctx)
    ddata = ctx.one(op, dy, ctx.const(0.0, value, value.shape), *index)
    return [ddata, ctx.one(getter, dy, *index), *([None] * len(index))]


def _check_unique(op: IndexingSetMultiAxisVec, ctx: GradContext) -> None:
    """Refuse repeated positions of a setter: which write wins is not defined there."""
    data = ctx.inputs[0]
    index = ctx.inputs[op.nr_data_inputs:]
    axes = [item[0] % data.ndim for item in op.items if item[4] is True]
    arrays = np.broadcast_arrays(*(i.numpy().astype(np.int64) for i in index))
    flat = np.stack([a.reshape(-1) % data.shape[ax] for a, ax in zip(arrays, axes)], axis=1)
    if len(np.unique(flat, axis=0)) != len(flat):
        raise NotImplementedError(f"no gradient rule for {op} with repeated indices "
                                  "(which of the repeated writes wins is not defined)")


@grad_rule(IndexingMultiAxisVec)
def indexing_grad(op: IndexingMultiAxisVec, ctx: GradContext) -> Grads:
    """The gradient added into zeros at the indexed places (repeated indices add up)."""
    data, *index = ctx.inputs
    adder = IndexingIncrMultiAxisVec(items=op.items)
    return [ctx.one(adder, ctx.const(0.0, data, data.shape), ctx.grad(0), *index),
            *([None] * len(index))]


@grad_rule(IndexingIncrMultiAxisVec)
def incr_indexing_grad(op: IndexingIncrMultiAxisVec, ctx: GradContext) -> Grads:
    """Data: the gradient itself; value: the gradient at the indexed places."""
    _, _, *index = ctx.inputs
    dy = ctx.grad(0)
    return [dy, ctx.one(IndexingMultiAxisVec(items=op.items), dy, *index),
            *([None] * len(index))]


@grad_rule(CondTake)
def cond_take_grad(op: CondTake, ctx: GradContext) -> Grads:
    """Data: the values' gradient written into zeros at the taken flat positions (each taken
    once); the mask gets none (the selection is piecewise constant in it)."""
    data, mask = ctx.inputs
    if ctx.grads[0] is None:
        return [None, None]
    size = int(np.prod(data.shape))
    flat = ctx.one(IndexingSetMultiAxisVec(items=((0, None, None, None, True),)),
                   ctx.const(0.0, data, (size,)), ctx.grad(0), ctx.outputs[1])
    return [ctx.reshape(flat, data.shape), None]


__all__ = ["broadcast_grad", "concat_grad", "cond_take_grad", "dimshuffle_grad",
           "incr_indexing_grad", "indexing_grad", "padding_grad", "reshape_grad",
           "set_subtensor_grad", "subtensor_grad"]
