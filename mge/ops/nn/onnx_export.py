"""ONNX export rules of the matrix, softmax and normalization ops (and their
dynamic-batch rules).

Example:
    >>> MatrixMul.onnx_rule                                      # doctest: +SKIP
    <function _matmul ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..batching import BatchDim, Blocked, aligned
from ..registry import batch_rule, onnx_rule
from . import (
    LRN,
    BatchedMatrixMul,
    BatchNormForward,
    GeneralNorm,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    MatrixMul,
    SoftmaxForward,
    bn_reduce_axes,
)
from .multi_head_attn import AttnArrays, MultiHeadAttn, attention

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode

F32 = np.dtype("float32")


def _transposed(ctx: ExportContext, node: OpNode, k: int, x: Sym, transpose: bool) -> Sym:
    if not transpose:
        return x
    perm = list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2]
    value = ctx.const_value(node.inputs[k])
    if value is not None:
        return ctx.derived_const(x, np.transpose(value, perm))
    return x.transpose(perm)


def _gemm_weight(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> bool:
    """Whether ``node`` is a float32 matrix product by a constant transposed weight (a
    ``Linear``): ONNX's ``Gemm(transB=1)`` reads that weight as stored, where ``MatMul``
    would need a transposed copy of it (a 1024 x 1000 classifier: ~2 ms of every load)."""
    op, out = node.op, node.outputs[0]
    return isinstance(op, MatrixMul) and op.transposeB and xs[0].ndim == 2 and \
        xs[1].ndim == 2 and xs[0].dtype == xs[1].dtype == out.dtype == F32 and \
        ctx.const_value(node.inputs[1]) is not None


def _gemm(ctx: ExportContext, a: Sym, weight: Sym) -> Sym:
    """``a @ weight.T`` as ``Gemm(transB=1)``; adding a constant bias row to it (a
    ``Linear``'s) gives one ``Gemm`` with the bias as ``C``, the node onnxruntime makes
    of ``MatMul`` and ``Add`` (the same sums, rounded the same way), the first ``Gemm``
    then unread."""
    shape = (a.shape[0], weight.shape[0])
    product = ctx.emit("Gemm", [a, weight], shape, F32, transB=1)

    def with_bias(bias: Sym) -> Sym | None:
        constant = bias.pending is not None or bias.name in ctx.initializers
        if not constant or bias.dtype != F32 or bias.shape not in ((shape[1],), (1, shape[1])):
            return None
        return ctx.emit("Gemm", [a, weight, bias], shape, F32, transB=1)

    product.fuse_add = with_bias
    return product


@onnx_rule(MatrixMul, BatchedMatrixMul)
def _matmul(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, out = node.op, node.outputs[0]
    a = _transposed(ctx, node, 0, xs[0], op.transposeA)
    if _gemm_weight(ctx, node, xs):
        return [_gemm(ctx, a, xs[1])]
    b = _transposed(ctx, node, 1, xs[1], op.transposeB)
    if op.compute_mode == "FLOAT32" and out.dtype != F32:
        return [ctx.emit("MatMul", [a.cast(F32), b.cast(F32)], out.shape, F32).cast(out.dtype)]
    return [ctx.emit("MatMul", [a, b], out.shape, out.dtype)]


@onnx_rule(SoftmaxForward)
def _softmax(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [xs[0].op("Softmax", axis=node.op.axis % xs[0].ndim)]


def _param_view(ctx: ExportContext, node: OpNode, k: int, x: Sym, shape: tuple) -> Sym:
    value = ctx.const_value(node.inputs[k])
    if value is not None and value.shape != shape:
        return ctx.derived_const(x, value.reshape(shape))
    return x.reshape(shape)


@onnx_rule(BatchNormForward)
def _batch_norm(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym | None]:
    op, x, y_var = node.op, xs[0], node.outputs[5]
    pshape, pdtype = xs[1].shape, xs[1].dtype
    view = pshape[: x.ndim]
    used = [ctx.needed(v) for v in node.outputs]
    if op.fwd_mode == "INFERENCE" and x.ndim == 4 and pshape == (1, x.shape[1], 1, 1) and \
            pdtype == x.dtype and not any(used[:5]):
        channel = (pshape[1],)
        params = [_param_view(ctx, node, k, xs[k], channel) for k in (1, 2, 3, 4)]
        return [None] * 5 + [x.op("BatchNormalization", *params, epsilon=op.epsilon)]
    xf = x.cast(F32)
    if op.fwd_mode == "INFERENCE":
        mean = _param_view(ctx, node, 3, xs[3], view).cast(F32)
        var = _param_view(ctx, node, 4, xs[4], view).cast(F32)
    else:
        axes = bn_reduce_axes(pshape, x.ndim)
        mean = ctx.reduce("ReduceMean", xf, axes, keepdims=True)
        centered = xf - mean
        var = ctx.reduce("ReduceMean", centered * centered, axes, keepdims=True)
    inv_std = 1.0 / (var + op.epsilon).op("Sqrt")
    scale = _param_view(ctx, node, 1, xs[1], view).cast(F32)
    bias = _param_view(ctx, node, 2, xs[2], view).cast(F32)
    y = ((xf - mean) * inv_std * scale + bias).cast(y_var.dtype)
    empty = ctx.const(np.zeros((0,), pdtype))
    running: list[Sym | None] = [empty, empty]
    if op.needs_stats(len(xs)):
        ctx.static_only(node, "BatchNorm's running statistics")
        count = int(np.prod(x.shape)) // max(int(np.prod(view)), 1)
        unbiased = var * (count / (count - 1))
        running = [((1 - op.avg_factor) * s.cast(F32) + op.avg_factor * new.reshape(pshape))
                   .cast(pdtype) for s, new in zip(xs[3:], (mean, unbiased), strict=True)]
    save = [mean.reshape(pshape).cast(pdtype), inv_std.reshape(pshape).cast(pdtype)]
    outs = [*running, *save, ctx.const(np.zeros((0,), np.uint8)), y]
    return [o if u else None for o, u in zip(outs, used, strict=True)]


@onnx_rule(LayerNorm, GroupNorm, InstanceNorm)
def _norm(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, x = node.op, xs[0]
    if isinstance(op, LayerNorm):
        groups = x.shape[: x.ndim - op.normalized_dim]
        view = x.shape[len(groups):]
    else:
        groups, view = (x.shape[0], op.groups(x.shape[1])), (1, x.shape[1], 1, 1)
    size = int(np.prod(x.shape)) // max(int(np.prod(groups)), 1)
    xf = x.cast(F32).reshape((*groups, size))
    mean = ctx.reduce("ReduceMean", xf, [len(groups)], keepdims=True)
    centered = xf - mean
    var = ctx.reduce("ReduceMean", centered * centered, [len(groups)], keepdims=True)
    rstd = 1.0 / (var + op.eps).op("Sqrt")
    y = (centered * rstd).reshape(x.shape)
    if op.affine:
        y = y * _param_view(ctx, node, 1, xs[1], view).cast(F32) + \
            _param_view(ctx, node, 2, xs[2], view).cast(F32)
    stat = rstd if isinstance(op, LayerNorm) else var  # GroupNorm's third output is var
    return [y.cast(x.dtype), mean.reshape(groups), stat.reshape(groups)]


class _OnnxArrays(AttnArrays):
    """The attention kernel's primitives, emitting ONNX nodes."""

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx

    def matmul(self, a: Sym, b: Sym) -> Sym:
        return self.ctx.emit("MatMul", [a, b], (*a.shape[:-1], b.shape[-1]), a.dtype)

    def reshape(self, x: Sym, shape: tuple[int, ...]) -> Sym:
        return x.reshape(shape)

    def transpose(self, x: Sym, perm: tuple[int, ...]) -> Sym:
        return x.transpose(perm)

    def expand(self, x: Sym, shape: tuple[int, ...]) -> Sym:
        return x.expand(shape)

    def const(self, value: np.ndarray, like: Sym) -> Sym:
        return self.ctx.const(value)

    def softmax(self, x: Sym) -> Sym:
        return x.op("Softmax", axis=x.ndim - 1)


@onnx_rule(MultiHeadAttn)
def _multi_head_attn(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, (q, k) = node.op, xs[:2]
    out, weights = attention(_OnnxArrays(ctx), op, *xs[:4], xs[4] if len(xs) > 4 else None)
    mask_bytes, othr = op.reserve_sizes(q.shape[0], q.shape[1], k.shape[1])
    return [out, weights, ctx.const(np.zeros((mask_bytes,), np.uint8)),
            ctx.const(np.zeros((othr,), F32))]


# ---------------------------------------------------------------------- batch rules
@batch_rule(MatrixMul, BatchedMatrixMul)
def _matmul_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
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


@batch_rule(BatchNormForward)
def _batch_norm_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    if any(d is not None for d in dims[1:]):
        raise Blocked("the statistics carry the batch")
    return [None] * 5 + [dims[0]]


@onnx_rule(GeneralNorm)
def _general_norm(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, x = node.op, xs[0]
    axes = list(range(op.axis_start, op.axis_end))
    rest = x.shape[: op.axis_start] + x.shape[op.axis_end:]
    xf = x.cast(F32)
    mean = ctx.reduce("ReduceMean", xf, axes, keepdims=True)
    centered = xf - mean
    var = ctx.reduce("ReduceMean", centered * centered, axes, keepdims=True)
    rstd = 1.0 / (var + op.eps).op("Sqrt")
    y = centered * rstd
    if op.affine:
        view = op.param_view(x.ndim, x.shape)
        y = y * _param_view(ctx, node, 1, xs[1], view).cast(F32) + \
            _param_view(ctx, node, 2, xs[2], view).cast(F32)
    return [y.cast(x.dtype), mean.reshape(rest), rstd.reshape(rest)]


@onnx_rule(LRN)
def _lrn(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    """``x * (k + alpha * window sum of x^2)^-beta``, the window sum a ``(n, 1)`` Conv of
    ones over the channels (ONNX's ``LRN`` computes ``x / d^beta``: an Inf input there is
    not MegEngine's NaN)."""
    op, out = node.op, node.outputs[0]
    n, c, h, w = out.shape
    x = xs[0].cast(F32)
    flat = (x * x).reshape((n, 1, c, h * w))
    ones = ctx.const(np.ones((1, 1, op.n, 1), np.float32))
    half = op.n // 2
    total = ctx.emit("Conv", [flat, ones], (n, 1, c, h * w), F32, kernel_shape=[op.n, 1],
                     pads=[half, 0, half, 0]).reshape((n, c, h, w))
    scale = (total * float(op.alpha) + float(op.k)).binary("Pow", -float(op.beta))
    return [(x * scale).cast(out.dtype)]


batch_rule(SoftmaxForward)(aligned)
batch_rule(LRN)(aligned)


@batch_rule(LayerNorm, GroupNorm, InstanceNorm)
def _norm_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    if any(d is not None for d in dims[1:]):
        raise Blocked("the affine parameters carry the batch")
    dim, op = dims[0], node.op
    if dim is None:
        return [None] * 3
    lead = node.inputs[0].ndim - op.normalized_dim if isinstance(op, LayerNorm) else 1
    if dim[0] >= lead:
        raise Blocked("the batch is a normalized axis")
    return [dim] * 3
