"""``dynamic_batch``: which axis of each var carries the batch of the graph inputs.

mge graphs have static shapes. To export a graph whose batch size is free, every var
gets a *batch dim* ``(axis, mult)``: its size along ``axis`` is ``batch * mult`` and
every other size is fixed. Graph inputs start with ``(0, 1)``; a rule per op type
carries the dims forward (elementwise ops keep them aligned, ``Reshape`` finds the
output dim the batch flows into, ``Dimshuffle`` permutes...). Ops whose batch dim cannot
be followed are *blocked* with a reason, which the exporter reports as a problem.

Where one graph admits several readings (a batch of 1 reshaped ``(1, C) -> (1, C, 1)``)
the outermost dim is taken, as models lay batches out; trace with a batch of 2 or more
to make that unambiguous.

Example:
    >>> axes, blocked = batch_axes(graph, graph.ops(), {})   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ....graph.ir import ConstOp, Graph, Host2DeviceCopy, OpNode

#: ``(axis, mult)``: the var's size along ``axis`` is ``batch * mult``
BatchDim = tuple[int, int]
Rule = Callable[[OpNode, list[BatchDim | None]], list[BatchDim | None]]


class Blocked(Exception):
    """The batch cannot be followed through an op (the reason is the message)."""


def _aligned(node: OpNode, dims: list[BatchDim | None], sources: Sequence[int] | None = None
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


def _data(*sources: int) -> Rule:
    return lambda node, dims: _aligned(node, dims, sources)


def _reshape(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    (axis, mult), src, dst = dims[0], node.inputs[0].shape, node.outputs[0].shape
    batch = src[axis] // mult
    prefix, rest = math.prod(src[:axis]), mult * math.prod(src[axis + 1:])
    for j in range(len(dst)):
        if math.prod(dst[:j]) == prefix and dst[j] % batch == 0 and \
                (dst[j] // batch) * math.prod(dst[j + 1:]) == rest:
            return [(j, dst[j] // batch)]
    raise Blocked(f"the batch does not flow into one dim of the target shape {dst}")


def _dimshuffle(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    axis, mult = dims[0]
    pattern = list(node.op.pattern)
    if axis not in pattern:
        raise Blocked("the pattern drops the batch axis")
    return [(pattern.index(axis), mult)]


def _axis_add_remove(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    axis, mult = dims[0]
    ndim = node.inputs[0].ndim
    for method, a in node.op.desc:
        if method == "ADD_1":
            ndim += 1
            a %= ndim
            axis += a <= axis
        else:
            a %= ndim
            ndim -= 1
            if a == axis:
                raise Blocked("removes the batch axis")
            axis -= a < axis
    return [(axis, mult)]


def _indexing(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    if any(d is not None for d in dims[1:]):
        raise Blocked("the index tensors carry the batch")
    axis, mult = dims[0]
    infos = [v.info for v in node.inputs]
    sels = node.op.resolve(infos[0].shape, infos)
    if sels[axis].kind == "vec":
        return [None]
    if sels[axis].kind != "all":
        raise Blocked("slices or indexes the batch axis")
    _, out_axis = node.op.result_layout(infos)
    return [(out_axis[axis], mult)]


def _reduce(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    axis, mult = dims[0]
    reduced = node.op.axis % max(node.inputs[0].ndim, 1) if node.op.axis < 2**31 - 1 else axis
    return [None if reduced == axis else (axis, mult)]


def _rows(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    if dims[0][0] != 0:
        raise Blocked("sorts along the batch axis")
    return [dims[0]] * len(node.outputs)


def _concat(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    axis = node.op.axis % node.outputs[0].ndim
    if any(d is None for d in dims):
        raise Blocked("concatenates batched and unbatched inputs")
    if {d[0] for d in dims} != {dims[0][0]}:
        raise Blocked("the inputs carry the batch on different axes")
    if dims[0][0] == axis:
        return [(axis, sum(d[1] for d in dims))]
    if len({d[1] for d in dims}) != 1:
        raise Blocked("the inputs have different batch multiples")
    return [dims[0]]


def _matmul(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    nd = node.inputs[0].ndim
    row = nd - 1 if node.op.transposeA else nd - 2  # the axis of A giving output rows
    col = nd - 2 if node.op.transposeB else nd - 1  # the axis of B giving output columns
    outs = set()
    for dim, keep, to in ((dims[0], row, nd - 2), (dims[1], col, nd - 1)):
        if dim is None:
            continue
        if nd == 3 and dim[0] == 0:
            outs.add((0, dim[1]))
        elif dim[0] == keep:
            outs.add((to, dim[1]))
        else:
            raise Blocked("the batch is a contracted axis")
    if len(outs) > 1:
        raise Blocked("both factors carry the batch")
    return [outs.pop() if outs else None]


def _batch_norm(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    if any(d is not None for d in dims[1:]):
        raise Blocked("the statistics carry the batch")
    return [None] * 5 + [dims[0]]


def _warp(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    if len(dims) == 2 and (dims[0] != (0, 1) or dims[1] != (0, 1)):
        raise Blocked("src and mat must both carry the batch (one matrix per image)")
    if dims[1] != (0, 1):
        raise Blocked("mat must carry the batch")
    return [(0, 1)]


def _not_batched(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    return [None] * len(node.outputs)


RULES: dict[str, Rule] = {
    "Elemwise": _aligned, "TypeCvt": _aligned, "SoftmaxForward": _aligned,
    "Padding": _aligned, "Broadcast": _aligned, "SetSubtensor": _data(0),
    "IndexingSetMultiAxisVec": _data(0),
    "ConvolutionForward": _data(0), "ConvBiasForward": _data(0, 2, 3),
    "PoolingForward": _data(0), "AdaptivePoolingForward": _data(0),
    "ResizeForward": _data(0), "WarpPerspectiveForward": _warp,
    "ConvolutionBackwardData": _data(1),
    "Reshape": _reshape, "Dimshuffle": _dimshuffle, "AxisAddRemove": _axis_add_remove,
    "Subtensor": _indexing, "IndexingMultiAxisVec": _indexing, "Concat": _concat,
    "Reduce": _reduce, "Argmax": _reduce, "Argmin": _reduce, "TopK": _rows,
    "ArgsortForward": _rows, "MatrixMul": _matmul, "BatchedMatrixMul": _matmul,
    "BatchNormForward": _batch_norm, "GetVarShape": _not_batched,
}


def batch_axes(graph: Graph, order: Sequence[OpNode], consts: Mapping[int, np.ndarray]
               ) -> tuple[dict[int, BatchDim | None], dict[int, str]]:
    """The batch dim of every var (``None``: no batch) and the blocked ops (id -> reason)."""
    dims: dict[int, BatchDim | None] = {v.id: (0, 1) for v in graph.inputs if v.ndim}
    batches = {v.shape[0] for v in graph.inputs if v.ndim}
    if len(batches) > 1:
        raise ValueError(f"dynamic_batch: the graph inputs have different batch sizes "
                         f"{sorted(batches)}")
    blocked: dict[int, str] = {}
    for node in order:
        if isinstance(node.op, (Host2DeviceCopy, ConstOp)) or node.outputs[0].id in consts:
            continue
        ins = [dims.get(v.id) for v in node.inputs]
        outs: list[BatchDim | None] = [None] * len(node.outputs)
        if any(d is not None for d in ins):
            rule = RULES.get(node.type)
            try:
                if rule is None:
                    raise Blocked(f"mge does not know how {node.type} carries the batch")
                outs = rule(node, ins)
            except Blocked as exc:
                blocked[node.id] = str(exc)
        for var, dim in zip(node.outputs, outs, strict=True):
            dims[var.id] = dim
    return dims, blocked


__all__ = ["BatchDim", "Blocked", "RULES", "batch_axes"]
