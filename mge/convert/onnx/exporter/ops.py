"""ONNX converters for elementwise, matrix, normalization, softmax and reduction ops.

``Elemwise`` maps each MegEngine mode to ONNX ops with the numpy backend's semantics
(``ROUND`` half away from zero, ``MOD`` as C's ``fmod``, ``FLOOR_DIV`` flooring,
``ERFINV`` by Giles' approximation refined with two Newton steps on ``Erf``...).
Reductions of integers run in int64 and wrap to the output dtype, like the numpy backend.

Example:
    >>> sorted(EXPORTERS)[:3]                                  # doctest: +SKIP
    ['AdaptivePoolingForward', 'Argmax', 'Argmin']
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ....graph.ir import OpNode, VarNode
from ....ops.nn import bn_reduce_axes
from ....ops.reduce import REDUCE_ALL
from .graph import ExportContext, Unsupported, exporter
from .sym import INT32, INT64, Sym, clip, floor, maximum, minimum, where

F32 = np.dtype("float32")


# ---------------------------------------------------------------------- elementwise
def _hsigmoid(x: Sym) -> Sym:
    return x.op("HardSigmoid", alpha=1.0 / 6, beta=0.5)


def _hswish(x: Sym) -> Sym:
    return x.op("HardSwish") if x.builder.opset >= 14 else x * _hsigmoid(x)


def _relu(x: Sym) -> Sym:
    return x.op("Relu") if x.dtype.kind == "f" else maximum(x, 0)


def _softplus(x: Sym) -> Sym:
    """``log1p(exp(-|x|)) + max(x, 0)`` (stable for large ``|x|``)."""
    return (1 + (-x.unary("Abs")).op("Exp")).op("Log") + maximum(x, 0)


def _erfinv(y: Sym) -> Sym:
    """Giles' single-precision approximation, then two Newton steps on ``Erf``."""
    yc = clip(y, -1.0, 1.0)
    w = -((1.0 - yc) * (1.0 + yc)).op("Log")
    ws, wl = w - 2.5, maximum(w, 5.0).op("Sqrt") - 3.0
    p_small: Sym | float = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
              -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
        p_small = c + p_small * ws
    p_large: Sym | float = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
              -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
        p_large = c + p_large * wl
    x = where(w < 5.0, p_small, p_large) * yc
    for _ in range(2):
        x = x - (x.op("Erf") - yc) / ((2.0 / math.sqrt(math.pi)) * (-(x * x)).op("Exp"))
    edge = yc.unary("Abs") == 1.0
    x = where(edge, yc.unary("Sign") * float("inf"), x)
    return where(y.unary("Abs") > 1.0, float("nan"), x)  # outside [-1, 1]: NaN, as numpy


def _atan2(y: Sym, x: Sym) -> Sym:
    r = (y / x).op("Atan")
    r = where(x < 0, where(y >= 0, r + math.pi, r - math.pi), r)
    return where((x == 0) & (y == 0), 0.0, r)


def _floor_div(a: Sym, b: Sym) -> Sym:
    if a.dtype.kind == "f":
        return floor(a / b)
    return (a - a % b).binary("Div", b)


def _shift(a: Sym, b: Sym, left: bool) -> Sym:
    unsigned = np.dtype(f"uint{a.dtype.itemsize * 8}")
    if left:
        return a.cast(unsigned).binary("BitShift", b.cast(unsigned), direction="LEFT") \
            .cast(a.dtype)
    # numpy's arithmetic shift (ONNX's cases are made with it): a count outside
    # [0, bits - 1) for signed types (bits for unsigned) shifts every bit out, leaving the
    # sign fill; 1 << count would overflow there
    bits = a.dtype.itemsize * 8
    count, wide = b.cast(INT64), a.cast(INT64)
    fill = where(wide < 0, -1, 0) if a.dtype.kind == "i" else wide * 0
    out = (count < 0) | (count >= (bits - 1 if a.dtype.kind == "i" else bits))
    count = where(out, 0, count)
    power = a.builder.const(1, np.dtype(np.uint64)).binary(
        "BitShift", count.cast(np.dtype(np.uint64)), direction="LEFT").cast(INT64)
    return where(out, fill, _floor_div(wide, power)).cast(a.dtype)


def _log_sum_exp(a: Sym, b: Sym) -> Sym:
    return maximum(a, b) + (1 + (-(a - b).unary("Abs")).op("Exp")).op("Log")


def _isnan(x: Sym) -> Sym:
    if x.dtype.kind == "f":
        return x.op("IsNaN", dtype=np.bool_)
    return x.builder.const(False).expand(x.shape)


def _isinf(x: Sym) -> Sym:
    if x.dtype.kind == "f":
        return x.op("IsInf", dtype=np.bool_)
    return x.builder.const(False).expand(x.shape)


def _unary(op_type: str) -> Callable[[Sym], Sym]:
    return lambda x: x.unary(op_type)


def _float_only(op_type: str) -> Callable[[Sym], Sym]:
    """Ops that are the identity on integers (FLOOR, CEIL, ROUND)."""
    return lambda x: x.op(op_type) if x.dtype.kind == "f" else x


ELEMWISE: dict[str, Callable[..., Sym]] = {
    "RELU": _relu, "ABS": _unary("Abs"), "NEGATE": lambda x: -x, "ACOS": _unary("Acos"),
    "ASIN": _unary("Asin"), "CEIL": _float_only("Ceil"), "COS": _unary("Cos"),
    "EXP": _unary("Exp"), "EXPM1": lambda x: x.op("Exp") - 1, "FLOOR": _float_only("Floor"),
    "LOG": _unary("Log"), "LOG1P": lambda x: (1 + x).op("Log"),
    "SIGMOID": _unary("Sigmoid"), "SIN": _unary("Sin"), "TANH": _unary("Tanh"),
    "FAST_TANH": _unary("Tanh"),
    "ROUND": lambda x: x.op("Sign") * floor(x.op("Abs") + 0.5) if x.dtype.kind == "f" else x,
    "ERF": _unary("Erf"), "ERFC": lambda x: 1 - x.op("Erf"), "ERFINV": _erfinv,
    "ERFCINV": lambda x: _erfinv(1 - x), "H_SWISH": _hswish, "HSIGMOID": _hsigmoid,
    "NOT": _unary("Not"), "SILU": lambda x: x * x.op("Sigmoid"),
    "GELU": lambda x: x * 0.5 * (1.0 + (x / math.sqrt(2.0)).op("Erf")),
    "SINH": _unary("Sinh"), "COSH": _unary("Cosh"), "ASINH": _unary("Asinh"),
    "ACOSH": _unary("Acosh"), "ATANH": _unary("Atanh"), "TAN": _unary("Tan"),
    "SOFTPLUS": _softplus, "LOGSIGMOID": lambda x: -_softplus(-x),
    "RELU6": lambda x: clip(x, 0, 6), "SQRT": _unary("Sqrt"), "SQUARE": lambda x: x * x,
    "SIGN": _unary("Sign"), "ISNAN": _isnan, "ISINF": _isinf,
    "ADD": lambda a, b: a + b, "SUB": lambda a, b: a - b, "MUL": lambda a, b: a * b,
    "TRUE_DIV": lambda a, b: a.binary("Div", b), "FLOOR_DIV": _floor_div,
    "MOD": lambda a, b: a.binary("Mod", b, fmod=1) if a.dtype.kind == "f" else a % b,
    "MAX": maximum, "MIN": minimum,
    "POW": lambda a, b: a.binary("Pow", b), "ATAN2": _atan2,
    "LT": lambda a, b: a < b, "LEQ": lambda a, b: a <= b, "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b, "AND": lambda a, b: a & b, "OR": lambda a, b: a | b,
    "XOR": lambda a, b: a.binary("Xor", b), "SHL": lambda a, b: _shift(a, b, True),
    "SHR": lambda a, b: _shift(a, b, False),
    "FUSE_ADD_RELU": lambda a, b: _relu(a + b),
    "FUSE_ADD_SIGMOID": lambda a, b: (a + b).op("Sigmoid"),
    "FUSE_ADD_TANH": lambda a, b: (a + b).op("Tanh"),
    "FUSE_ADD_H_SWISH": lambda a, b: _hswish(a + b),
    "SWITCH_GT0": lambda x, y: where(x > 0, y, 0), "PRELU": lambda x, w: where(x > 0, x, x * w),
    "LOG_SUM_EXP": _log_sum_exp,
    "FUSE_MUL_ADD3": lambda a, b, c: a * b + c,
    "FUSE_MUL_ADD4": lambda a, b, c, d: a * b + c * d,
    "COND_LEQ_MOV": lambda a, b, c: where(a <= b, c, 0),
    "COND_LT_MOV": lambda a, b, c: where(a < b, c, 0),
    "CLIP": lambda x, lo, hi: minimum(maximum(x, lo), hi),
}


def _scalar(ctx: ExportContext, var: VarNode) -> float | None:
    value = ctx.const_value(var)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _min_of_max(ctx: ExportContext, node: OpNode) -> tuple[VarNode, float, float] | None:
    """``MIN(MAX(x, lo), hi)`` with scalar constant bounds (how MegEngine dumps relu6)."""
    for k in (0, 1):
        hi, inner = _scalar(ctx, node.inputs[k]), node.inputs[1 - k].owner
        if hi is None or inner.type != "Elemwise" or inner.op.mode != "MAX":
            continue
        for j in (0, 1):
            lo = _scalar(ctx, inner.inputs[j])
            if lo is not None and ctx.const_value(inner.inputs[1 - j]) is None:
                return inner.inputs[1 - j], lo, hi
    return None


def _clip_op(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> Sym | None:
    """ONNX ``Clip`` (which runtimes fuse into convolutions) for RELU6, constant CLIP and
    ``MIN(MAX(x, lo), hi)``."""
    mode, out = node.op.mode, node.outputs[0]
    if out.dtype.kind != "f":
        return None
    x = xs[0]
    if mode == "RELU6":
        lo, hi = 0.0, 6.0
    elif mode == "CLIP":
        lo, hi = (_scalar(ctx, v) for v in node.inputs[1:])
    elif mode == "MIN" and (found := _min_of_max(ctx, node)) is not None:
        var, lo, hi = found
        x = ctx.value_of(var)
    else:
        return None
    if lo is None or hi is None or out.shape != x.shape:
        return None
    return x.op("Clip", ctx.const(np.array(lo, x.dtype)), ctx.const(np.array(hi, x.dtype)))


@exporter("Elemwise")
def _elemwise(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    fn = ELEMWISE.get(node.op.mode)
    if fn is None:
        raise Unsupported(f"Elemwise mode {node.op.mode} has no ONNX form")
    out = _clip_op(ctx, node, xs) or fn(*xs)
    var = node.outputs[0]
    return [out.expand(var.shape).cast(var.dtype)]


@exporter("PowC")
def _pow_c(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    exp = node.op.integer_exp()  # MegEngine's integer path: an exact integer power
    if exp is None and np.float32(node.op.exp) == 0.5:  # a square root: sqrt(-inf) is NaN
        return [xs[0].op("Sqrt")]
    return [xs[0].binary("Pow", ctx.const(node.op.exp if exp is None else exp, xs[0].dtype))]


@exporter("TypeCvt")
def _type_cvt(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [xs[0].cast(node.outputs[0].dtype)]


# ---------------------------------------------------------------------- matrices, nn
def _transposed(ctx: ExportContext, node: OpNode, k: int, x: Sym, transpose: bool) -> Sym:
    if not transpose:
        return x
    perm = list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2]
    value = ctx.const_value(node.inputs[k])
    if value is not None:
        return ctx.derived_const(x, np.transpose(value, perm))
    return x.transpose(perm)


@exporter("MatrixMul", "BatchedMatrixMul")
def _matmul(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, out = node.op, node.outputs[0]
    a = _transposed(ctx, node, 0, xs[0], op.transposeA)
    b = _transposed(ctx, node, 1, xs[1], op.transposeB)
    if op.compute_mode == "FLOAT32" and out.dtype != F32:
        return [ctx.emit("MatMul", [a.cast(F32), b.cast(F32)], out.shape, F32).cast(out.dtype)]
    return [ctx.emit("MatMul", [a, b], out.shape, out.dtype)]


@exporter("SoftmaxForward")
def _softmax(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [xs[0].op("Softmax", axis=node.op.axis % xs[0].ndim)]


def _param_view(ctx: ExportContext, node: OpNode, k: int, x: Sym, shape: tuple) -> Sym:
    value = ctx.const_value(node.inputs[k])
    if value is not None and value.shape != shape:
        return ctx.derived_const(x, value.reshape(shape))
    return x.reshape(shape)


@exporter("BatchNormForward")
def _batch_norm(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym | None]:
    op, x, y_var = node.op, xs[0], node.outputs[5]
    pshape, pdtype = xs[1].shape, xs[1].dtype
    view = pshape[: x.ndim]
    used = [ctx.needed(v) for v in node.outputs]
    if op.fwd_mode == "INFERENCE" and x.ndim == 4 and op.param_dim == "DIM_1C11" and \
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


# ---------------------------------------------------------------------- reductions
_REDUCE = {"SUM": "ReduceSum", "SUM_SQR": "ReduceSumSquare", "PRODUCT": "ReduceProd",
           "MIN": "ReduceMin", "MAX": "ReduceMax", "MEAN": "ReduceSum"}


def _global_average(ctx: ExportContext, node: OpNode) -> Sym | None:
    """``GlobalAveragePool`` for a mean over W then H of an NCHW float tensor."""
    src = node.inputs[0].owner
    if not (node.op.mode == "MEAN" and node.op.axis == 2 and src.type == "Reduce"
            and src.op.mode == "MEAN" and src.op.axis == 3 and src.inputs[0].ndim == 4
            and src.inputs[0].dtype.kind == "f" and 0 not in src.inputs[0].shape):
        return None
    x = ctx.value_of(src.inputs[0])
    return x.op("GlobalAveragePool", shape=node.outputs[0].shape)


@exporter("Reduce")
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


@exporter("Argmax", "Argmin")
def _arg_reduce(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    x = xs[0]
    if x.dtype not in (F32, np.dtype("float64"), INT32, INT64):
        x = x.cast(F32 if x.dtype.kind == "f" else INT32)
    onnx_op = "ArgMax" if node.type == "Argmax" else "ArgMin"
    axis = node.op.axis % x.ndim
    return [x.op(onnx_op, shape=node.outputs[0].shape, dtype=INT64, axis=axis, keepdims=1)
            .cast(INT32)]


def _sorted(ctx: ExportContext, x: Sym, k: int, largest: bool) -> tuple[Sym, Sym]:
    """The first ``k`` values of each row sorted (ties: lower index first), and indices."""
    work = x if x.dtype in (F32, INT32, INT64) else x.cast(
        F32 if x.dtype.kind == "f" else INT32)
    shape = (x.shape[0], k)
    values, idx = ctx.emit("TopK", [work, ctx.ints([k])], shape, work.dtype, outputs=2,
                           dtypes=[work.dtype, INT64], axis=-1, largest=int(largest), sorted=1)
    return values.cast(x.dtype), idx.cast(INT32)


@exporter("TopK")
def _topk(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op = node.op
    values, idx = _sorted(ctx, xs[0], abs(op.k), largest=op.k < 0)
    if op.mode == "KTH_ONLY":
        return [values[:, abs(op.k) - 1]]
    return [values, idx]


@exporter("ArgsortForward")
def _argsort(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return list(_sorted(ctx, xs[0], xs[0].shape[1], largest=node.op.order == "DESCENDING"))


__all__ = ["ELEMWISE"]
