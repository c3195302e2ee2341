"""ONNX converters for the shape, creation and indexing ops.

Static shape params become ONNX shape inputs (with ``dynamic_batch``, the dim that
carries the batch becomes ``-1`` or a broadcast ``1``). Basic indexing is ``Slice`` +
``Squeeze``; advanced indexing is ``Gather`` for one index tensor and ``GatherND`` over
a full index grid otherwise, and the setters are ``ScatterND`` over the same grid.

Example:
    >>> EXPORTERS["Dimshuffle"]                                # doctest: +SKIP
    <function _dimshuffle ...>
"""

from __future__ import annotations

import numpy as np

from ....graph.ir import OpNode
from ....ops.shape import INVALID_AXIS, IndexingOp
from .graph import ExportContext, Unsupported, exporter
from .sym import INT32, INT64, Sym, concat, onnx_dtype, where

F32 = np.dtype("float32")
_PAD_MODES = {"CONSTANT": "constant", "REPLICATE": "edge", "REFLECT": "reflect"}


@exporter("Reshape")
def _reshape(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x, out = xs[0], node.outputs[0]
    target = list(out.shape)
    axis = ctx.batch_axis(out)
    if axis is not None:
        target[axis] = -1
    if 0 in target:  # an empty result: no data to move (ONNX reads a 0 as "keep this dim")
        return [_filled(ctx, out.shape, 0, out.dtype)]
    return [x.op("Reshape", ctx.ints(target), shape=out.shape)]


@exporter("Broadcast")
def _broadcast(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x, out = xs[0], node.outputs[0]
    target = list(out.shape)
    axis = ctx.batch_axis(out)
    if axis is not None:
        target[axis] = 1  # Expand keeps the input's (batch) size there
    if target == list(x.shape):
        return [x]
    return [x.op("Expand", ctx.ints(target), shape=out.shape)]


@exporter("Dimshuffle")
def _dimshuffle(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x, pattern = xs[0], list(node.op.pattern)
    used = [p for p in pattern if p != -1]
    dropped = [i for i in range(x.ndim) if i not in used]
    kept = [i for i in range(x.ndim) if i not in dropped]
    y = x.squeeze(dropped).transpose([kept.index(p) for p in used])
    return [y.unsqueeze([k for k, p in enumerate(pattern) if p == -1])]


@exporter("AxisAddRemove")
def _axis_add_remove(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    y = xs[0]
    for method, axis in node.op.desc:
        y = y.unsqueeze([axis]) if method == "ADD_1" else y.squeeze([axis])
    return [y]


@exporter("Concat")
def _concat(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [concat(xs, node.op.axis % xs[0].ndim)]


@exporter("Padding")
def _padding(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, x = node.op, xs[0]
    widths = op.pad_width(x.ndim)
    pads = [f for f, _ in widths] + [b for _, b in widths]
    inputs = [ctx.ints(pads)]
    if op.padding_mode == "CONSTANT":
        inputs.append(ctx.const(np.array(op.padding_val).astype(x.dtype)))
    return [x.op("Pad", *inputs, shape=node.outputs[0].shape,
                 mode=_PAD_MODES[op.padding_mode])]


@exporter("GetVarShape")
def _get_var_shape(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x = xs[0]
    shape = x.op("Shape", shape=(x.ndim,), dtype=INT64)
    if node.op.axis != INVALID_AXIS:
        shape = shape[node.op.axis % x.ndim: node.op.axis % x.ndim + 1]
    return [shape.cast(INT32)]


def _filled(ctx: ExportContext, shape: tuple[int, ...], value: object, dtype: np.dtype) -> Sym:
    from onnx import helper

    tensor = helper.make_tensor("value", onnx_dtype(dtype), [1],
                                [np.array(value).astype(dtype).item()])
    return ctx.emit("ConstantOfShape", [ctx.ints(shape)], shape, dtype, value=tensor)


@exporter("Fill")
def _fill(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    out = node.outputs[0]
    return [_filled(ctx, out.shape, node.op.value, out.dtype)]


@exporter("Eye")
def _eye(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    out = node.outputs[0]
    zeros = _filled(ctx, out.shape, 0, F32)
    return [zeros.op("EyeLike", k=node.op.k).cast(out.dtype)]


@exporter("Linspace")
def _linspace(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    """numpy's recipe in float64: ``i * step + start``, the last one ``stop`` exactly."""
    op = node.op
    div = op.num - 1 if op.endpoint else op.num
    index = ctx.const(np.arange(op.num, dtype=np.float64))
    y = index * ((op.stop - op.start) / max(div, 1)) + float(op.start)
    if op.endpoint and op.num > 1:
        y = where(index == float(op.num - 1), float(op.stop), y)
    return [y.cast(F32)]


# ---------------------------------------------------------------------- indexing
def _basic_key(op: IndexingOp, shape: tuple[int, ...]) -> tuple:
    key = []
    for sel in op.resolve(shape):
        key.append(sel.start if sel.kind == "index" else sel.as_slice())
    return tuple(key)


@exporter("Subtensor")
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
            i = where(i < 0, i + x.shape[a], i).expand(common)
            view[at: at + len(common)] = common
            part = i.reshape(view)
        elif sel.kind == "index":
            part = ctx.const(np.array(sel.start, np.int64)).reshape(view)
        else:
            view[out_axis[a]] = sel.count
            positions = np.arange(sel.count, dtype=np.int64) * sel.step + sel.start
            part = ctx.const(positions.reshape(view))
        parts.append(part.expand(result).unsqueeze([-1]))
    return concat(parts, -1)


@exporter("IndexingMultiAxisVec")
def _indexing(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x, indices, op = xs[0], xs[1:], node.op
    sels = op.resolve(x.shape, [v.info for v in node.inputs])
    vec_axes = [a for a, s in enumerate(sels) if s.kind == "vec"]
    if len(vec_axes) == 1:
        (axis,) = vec_axes
        sliced = x[tuple(slice(None) if k == axis else s.as_slice()
                         for k, s in enumerate(sels))]
        i = indices[0].cast(INT64)
        return [sliced[(slice(None),) * axis + (where(i < 0, i + x.shape[axis], i),)]]
    grid = _index_grid(ctx, node, x, indices)
    return [x.op("GatherND", grid, shape=node.outputs[0].shape)]


@exporter("SetSubtensor", "IndexingSetMultiAxisVec")
def _set_indexing(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    ctx.static_only(node, "an index grid over every element")
    x, value, indices = xs[0], xs[1], xs[2:]
    grid = _index_grid(ctx, node, x, indices)
    updates = value.reshape(grid.shape[:-1])
    return [x.op("ScatterND", grid, updates)]


@exporter("AssertEqual")
def _assert_equal(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    raise Unsupported("ONNX has no assertion op; export the graph without its test-case "
                      "checks (AssertEqual)")


__all__: list[str] = []
