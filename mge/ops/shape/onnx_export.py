"""ONNX export rules of the shape, creation and indexing ops, and their dynamic-batch
rules.

Static shape params become ONNX shape inputs (with ``dynamic_batch``, the dim that
carries the batch becomes ``-1`` or a broadcast ``1``). Basic indexing is ``Slice`` +
``Squeeze``; advanced indexing is ``Gather`` for one index tensor and ``GatherND`` over
a full index grid otherwise, and the setters are ``ScatterND`` over the same grid.

Example:
    >>> Dimshuffle.onnx_rule                                     # doctest: +SKIP
    <function _dimshuffle ...>
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..batching import BatchDim, Blocked, aligned, data_inputs, not_batched
from ..registry import Unsupported, batch_rule, onnx_rule
from .condtake import CondTake
from .creation import Alloc, Eye, Fill, Linspace
from .indexing import (
    IndexingIncrMultiAxisVec,
    IndexingMultiAxisVec,
    IndexingOp,
    IndexingSetMultiAxisVec,
    SetSubtensor,
    Subtensor,
)
from .shape import (
    INVALID_AXIS,
    AxisAddRemove,
    Broadcast,
    Concat,
    Diag,
    Dimshuffle,
    GetVarShape,
    Padding,
    Reshape,
)

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode, VarNode

F32 = np.dtype("float32")
INT32 = np.dtype("int32")
INT64 = np.dtype("int64")
_PAD_MODES = {"CONSTANT": "constant", "REPLICATE": "edge", "REFLECT": "reflect"}


def _target_shape(ctx: ExportContext, out: VarNode, at_batch: int) -> list[int]:
    """``out``'s shape as an ONNX shape input: ``at_batch`` where it carries the batch."""
    target = list(out.shape)
    axis = ctx.batch_axis(out)
    if axis is not None:
        target[axis] = at_batch
    return target


def _diag_positions(op: Diag, shape: tuple[int, ...]) -> np.ndarray:
    """Flat positions of diagonal ``op.k`` in the matrix of ``shape``."""
    rows, cols = shape
    r = np.arange(rows)
    r = r[(r + op.k >= 0) & (r + op.k < cols)]
    return (r * cols + r + op.k).astype(np.int64)


@onnx_rule(Diag)
def _diag(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    """A 2-d input: Gather of the diagonal's flat positions; a 1-d input: ScatterND of it
    onto those positions of a flat zero matrix."""
    x, out = xs[0], node.outputs[0]
    if x.ndim == 2:
        flat = x.reshape((int(np.prod(x.shape)),))
        index = ctx.const(_diag_positions(node.op, x.shape))
        return [flat.op("Gather", index, shape=out.shape, axis=0)]
    n = out.shape[0]
    zeros = ctx.const(np.zeros((n * n,), out.dtype))
    index = ctx.const(_diag_positions(node.op, (n, n)).reshape(-1, 1))
    return [zeros.op("ScatterND", index, x).reshape(out.shape)]


@onnx_rule(CondTake)
def _cond_take(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    """``Compress`` of the flat data by the flat condition, and ``NonZero`` of it (int32).
    The condition is the numpy kernel's: float masks compare in float32 (``EQ``:
    ``|mask - val| < eps``), integer and bool masks with ``val`` cast to their dtype. In
    ONNX the outputs' length follows the mask's values (mge's op fixes it as ``size``)."""
    op, (data, mask) = node.op, xs
    ctx.static_only(node, "CondTake's output length")
    if mask.dtype.kind == "f":
        m, val = mask.cast(F32), np.float32(op.val)
    else:
        m, val = mask.cast(INT32), np.asarray(op.val).astype(mask.dtype).astype(INT32)
    if op.mode in ("EQ", "NEQ"):
        hit = ((m - ctx.const(val)).unary("Abs").binary("Less", ctx.const(np.float32(op.eps)))
               if mask.dtype.kind == "f" else m.binary("Equal", ctx.const(val)))
        if op.mode == "NEQ":
            hit = hit.op("Not")
    else:
        onnx_op = {"LT": "Less", "LEQ": "LessOrEqual", "GT": "Greater",
                   "GEQ": "GreaterOrEqual"}[op.mode]
        hit = m.binary(onnx_op, ctx.const(val))
    size = int(np.prod(data.shape))
    flat = hit.reshape((size,))
    values = data.reshape((size,)).op("Compress", flat, shape=node.outputs[0].shape, axis=0)
    index = flat.op("NonZero", shape=(1, op.size), dtype=INT64).squeeze([0]).cast(INT32)
    return [values, index]


@onnx_rule(Reshape)
def _reshape(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x, out = xs[0], node.outputs[0]
    target = _target_shape(ctx, out, -1)
    if 0 in target:  # an empty result: no data to move (ONNX reads a 0 as "keep this dim")
        return [ctx.filled(out.shape, 0, out.dtype)]
    return [x.op("Reshape", ctx.ints(target), shape=out.shape)]


@onnx_rule(Broadcast)
def _broadcast(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x, out = xs[0], node.outputs[0]
    target = _target_shape(ctx, out, 1)  # Expand keeps the input's (batch) size at a 1
    if target == list(x.shape):
        return [x]
    return [x.op("Expand", ctx.ints(target), shape=out.shape)]


@onnx_rule(Dimshuffle)
def _dimshuffle(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x, pattern = xs[0], list(node.op.pattern)
    used = [p for p in pattern if p != -1]
    dropped = [i for i in range(x.ndim) if i not in used]
    kept = [i for i in range(x.ndim) if i not in dropped]
    y = x.squeeze(dropped).transpose([kept.index(p) for p in used])
    return [y.unsqueeze([k for k, p in enumerate(pattern) if p == -1])]


@onnx_rule(AxisAddRemove)
def _axis_add_remove(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    y = xs[0]
    for method, axis in node.op.desc:
        y = y.unsqueeze([axis]) if method == "ADD_1" else y.squeeze([axis])
    return [y]


@onnx_rule(Concat)
def _concat(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [ctx.concat(xs, node.op.axis % xs[0].ndim)]


@onnx_rule(Padding)
def _padding(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, x = node.op, xs[0]
    widths = op.pad_width(x.ndim)
    pads = [f for f, _ in widths] + [b for _, b in widths]
    inputs = [ctx.ints(pads)]
    if op.padding_mode == "CONSTANT":
        inputs.append(ctx.const(np.array(op.padding_val).astype(x.dtype)))
    return [x.op("Pad", *inputs, shape=node.outputs[0].shape,
                 mode=_PAD_MODES[op.padding_mode])]


@onnx_rule(GetVarShape)
def _get_var_shape(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x = xs[0]
    shape = x.op("Shape", shape=(x.ndim,), dtype=INT64)
    if node.op.axis != INVALID_AXIS:
        shape = shape[node.op.axis % x.ndim: node.op.axis % x.ndim + 1]
    return [shape.cast(INT32)]


@onnx_rule(Fill, Alloc)
def _fill(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    out = node.outputs[0]
    return [ctx.filled(out.shape, node.op.value, out.dtype)]


@onnx_rule(Eye)
def _eye(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    out = node.outputs[0]
    zeros = ctx.filled(out.shape, 0, F32)
    return [zeros.op("EyeLike", k=node.op.k).cast(out.dtype)]


@onnx_rule(Linspace)
def _linspace(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    """numpy's recipe in float64: ``i * step + start``, the last one ``stop`` exactly."""
    op = node.op
    div = op.num - 1 if op.endpoint else op.num
    index = ctx.const(np.arange(op.num, dtype=np.float64))
    y = index * ((op.stop - op.start) / max(div, 1)) + float(op.start)
    if op.endpoint and op.num > 1:
        y = (index == float(op.num - 1)).select(float(op.stop), y)
    return [y.cast(F32)]


# ---------------------------------------------------------------------- indexing
def _basic_key(op: IndexingOp, shape: tuple[int, ...]) -> tuple:
    key = []
    for sel in op.resolve(shape):
        key.append(sel.start if sel.kind == "index" else sel.as_slice())
    return tuple(key)


@onnx_rule(Subtensor)
def _subtensor(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [xs[0][_basic_key(node.op, xs[0].shape)]]


def _vec_inputs(op: IndexingOp, ndim: int, indices: list[Sym]) -> dict[int, Sym]:
    """Index tensors by the axis they index, with negative indices made positive."""
    axes = [item[0] % ndim for item in op.items if item[4] is True]
    return dict(zip(axes, indices, strict=True))


def _index_grid(ctx: ExportContext, node: OpNode, x: Sym, indices: list[Sym]) -> Sym:
    """For every element of the indexing result, its full index into ``x``:
    an int64 tensor ``result_shape + (x.ndim,)``."""
    op = node.op
    infos = [v.info for v in node.inputs]
    sels = op.resolve(x.shape, infos)
    result, out_axis = op.result_layout(infos)
    vec_axes = [a for a, s in enumerate(sels) if s.kind == "vec"]
    by_axis = _vec_inputs(op, x.ndim, indices)
    common = np.broadcast_shapes(*(i.shape for i in by_axis.values())) if by_axis else ()
    adjacent = vec_axes == list(range(vec_axes[0], vec_axes[-1] + 1)) if vec_axes else False
    at = sum(1 for a in out_axis if a < vec_axes[0]) if adjacent else 0
    parts = []
    for a, sel in enumerate(sels):
        view = [1] * len(result)
        if sel.kind == "vec":
            i = by_axis[a].cast(INT64)
            i = (i < 0).select(i + x.shape[a], i).expand(common)
            view[at: at + len(common)] = common
            part = i.reshape(view)
        elif sel.kind == "index":
            part = ctx.const(np.array(sel.start, np.int64)).reshape(view)
        else:
            view[out_axis[a]] = sel.count
            positions = np.arange(sel.count, dtype=np.int64) * sel.step + sel.start
            part = ctx.const(positions.reshape(view))
        parts.append(part.expand(result).unsqueeze([-1]))
    return ctx.concat(parts, -1)


@onnx_rule(IndexingMultiAxisVec)
def _indexing(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x, indices, op = xs[0], xs[1:], node.op
    sels = op.resolve(x.shape, [v.info for v in node.inputs])
    vec_axes = [a for a, s in enumerate(sels) if s.kind == "vec"]
    if len(vec_axes) == 1:
        (axis,) = vec_axes
        sliced = x[tuple(slice(None) if k == axis else s.as_slice()
                         for k, s in enumerate(sels))]
        i = indices[0].cast(INT64)
        return [sliced[(slice(None),) * axis + ((i < 0).select(i + x.shape[axis], i),)]]
    grid = _index_grid(ctx, node, x, indices)
    return [x.op("GatherND", grid, shape=node.outputs[0].shape)]


@onnx_rule(SetSubtensor, IndexingSetMultiAxisVec)
def _set_indexing(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    ctx.static_only(node, "an index grid over every element")
    x, value, indices = xs[0], xs[1], xs[2:]
    grid = _index_grid(ctx, node, x, indices)
    updates = value.reshape(grid.shape[:-1])
    return [x.op("ScatterND", grid, updates)]


@onnx_rule(IndexingIncrMultiAxisVec)
def _incr_indexing(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    if ctx.opset < 16:
        raise Unsupported(f"IndexingIncrMultiAxisVec needs ScatterND's reduction (opset 16), "
                          f"exporting opset {ctx.opset}")
    ctx.static_only(node, "an index grid over every element")
    x, value, indices = xs[0], xs[1], xs[2:]
    grid = _index_grid(ctx, node, x, indices)
    return [x.op("ScatterND", grid, value.reshape(grid.shape[:-1]), reduction="add")]


# ---------------------------------------------------------------------- batch rules

@batch_rule(Reshape)
def _reshape_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    (axis, mult), src, dst = dims[0], node.inputs[0].shape, node.outputs[0].shape
    batch = src[axis] // mult
    prefix, rest = math.prod(src[:axis]), mult * math.prod(src[axis + 1:])
    for j in range(len(dst)):
        if math.prod(dst[:j]) == prefix and dst[j] % batch == 0 and \
                (dst[j] // batch) * math.prod(dst[j + 1:]) == rest:
            return [(j, dst[j] // batch)]
    raise Blocked(f"the batch does not flow into one dim of the target shape {dst}")


@batch_rule(Dimshuffle)
def _dimshuffle_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    axis, mult = dims[0]
    pattern = list(node.op.pattern)
    if axis not in pattern:
        raise Blocked("the pattern drops the batch axis")
    return [(pattern.index(axis), mult)]


@batch_rule(AxisAddRemove)
def _axis_add_remove_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
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


@batch_rule(Subtensor, IndexingMultiAxisVec)
def _indexing_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
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


@batch_rule(Concat)
def _concat_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
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


batch_rule(Padding, Broadcast)(aligned)
batch_rule(SetSubtensor, IndexingSetMultiAxisVec, IndexingIncrMultiAxisVec)(data_inputs(0))
batch_rule(GetVarShape)(not_batched)
