"""ONNX export rules of the reductions, arg-reductions and sorts (and their
dynamic-batch rules). Reductions of integers run in int64 and wrap to the output dtype,
like the numpy backend.

Example:
    >>> Reduce.onnx_rule                                         # doctest: +SKIP
    <function _reduce ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..batching import BatchDim, Blocked
from ..registry import batch_rule, onnx_rule
from . import REDUCE_ALL, Argmax, Argmin, ArgsortForward, Cumsum, Reduce, TopK

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode

F32 = np.dtype("float32")
INT32 = np.dtype("int32")
INT64 = np.dtype("int64")


_REDUCE = {"SUM": "ReduceSum", "SUM_SQR": "ReduceSumSquare", "PRODUCT": "ReduceProd",
           "MIN": "ReduceMin", "MAX": "ReduceMax", "MEAN": "ReduceSum"}


def _global_average(ctx: ExportContext, node: OpNode) -> Sym | None:
    """``GlobalAveragePool`` for a mean over W then H of an NCHW float tensor."""
    src = node.inputs[0].owner
    if not (node.op.mode == "MEAN" and node.op.axis == 2 and isinstance(src.op, Reduce)
            and src.op.mode == "MEAN" and src.op.axis == 3 and src.inputs[0].ndim == 4
            and src.inputs[0].dtype.kind == "f" and 0 not in src.inputs[0].shape):
        return None
    x = ctx.value_of(src.inputs[0])
    return x.op("GlobalAveragePool", shape=node.outputs[0].shape)


@onnx_rule(Reduce)
def _reduce(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, x, out = node.op, xs[0], node.outputs[0]
    pooled = _global_average(ctx, node)
    if pooled is not None:
        return [pooled]
    axes = None if op.axis == REDUCE_ALL else [op.axis % x.ndim]
    work = x.cast(F32 if x.dtype.kind == "f" else INT64)
    count = x.shape[axes[0]] if axes else int(np.prod(x.shape))
    if op.mode == "MEAN" and work.dtype == F32 and count:
        return [ctx.reduce("ReduceMean", work, axes, axes is not None).cast(out.dtype)]
    result = ctx.reduce(_REDUCE[op.mode], work, axes, keepdims=axes is not None)
    if op.mode == "MEAN":  # a sum divided by the count (NaN for an empty float mean)
        result = result.binary("Div", count)
    return [result.cast(out.dtype)]


@onnx_rule(Argmax, Argmin)
def _arg_reduce(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x = xs[0]
    if x.dtype not in (F32, np.dtype("float64"), INT32, INT64):
        x = x.cast(F32 if x.dtype.kind == "f" else INT32)
    onnx_op = "ArgMax" if isinstance(node.op, Argmax) else "ArgMin"
    axis = node.op.axis % x.ndim
    return [x.op(onnx_op, shape=node.outputs[0].shape, dtype=INT64, axis=axis, keepdims=1)
            .cast(INT32)]


def _sorted(ctx: ExportContext, x: Sym, k: int, largest: bool) -> tuple[Sym, Sym]:
    """The first ``k`` values of each row sorted, and indices. Ties: lower index first
    ascending, higher index first descending (MegEngine's order: the ascending one
    reversed); ONNX's TopK puts the lower index first, so ``largest`` runs on the reversed
    row and maps the indices back."""
    work = x if x.dtype in (F32, INT32, INT64) else x.cast(
        F32 if x.dtype.kind == "f" else INT32)
    if largest:
        work = work[:, ::-1]
    shape = (x.shape[0], k)
    values, idx = ctx.emit("TopK", [work, ctx.ints([k])], shape, work.dtype, outputs=2,
                           dtypes=[work.dtype, INT64], axis=-1, largest=int(largest), sorted=1)
    if largest:
        idx = ctx.const(np.array(x.shape[1] - 1, np.int64)) - idx
    return values.cast(x.dtype), idx.cast(INT32)


@onnx_rule(TopK)
def _topk(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op = node.op
    values, idx = _sorted(ctx, xs[0], abs(op.k), largest=op.k < 0)
    if op.mode == "KTH_ONLY":
        return [values[:, abs(op.k) - 1]]
    return [values, idx]


@onnx_rule(ArgsortForward)
def _argsort(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return list(_sorted(ctx, xs[0], xs[0].shape[1], largest=node.op.order == "DESCENDING"))


@onnx_rule(Cumsum)
def _cumsum(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, x = node.op, xs[0]
    axis = ctx.const(np.array(op.axis % x.ndim, np.int64))
    return [x.op("CumSum", axis, exclusive=int(op.exclusive), reverse=int(op.reverse))]


# ---------------------------------------------------------------------- batch rules
@batch_rule(Reduce, Argmax, Argmin)
def _reduce_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    axis, mult = dims[0]
    reduced = node.op.axis % max(node.inputs[0].ndim, 1) if node.op.axis < 2**31 - 1 else axis
    return [None if reduced == axis else (axis, mult)]


@batch_rule(Cumsum)
def _cumsum_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    if node.op.axis % node.inputs[0].ndim == dims[0][0]:
        raise Blocked("sums along the batch axis")
    return [dims[0]]


@batch_rule(TopK, ArgsortForward)
def _rows(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    if dims[0][0] != 0:
        raise Blocked("sorts along the batch axis")
    return [dims[0]] * len(node.outputs)
