"""ONNX export rules of the elementwise ops (and their dynamic-batch rules).

``Elemwise`` maps each MegEngine mode to ONNX ops with the numpy backend's semantics
(``ROUND`` half away from zero, ``MOD`` as C's ``fmod``, ``FLOOR_DIV`` flooring,
``ERFINV`` by Giles' approximation refined with two Newton steps on ``Erf``...).

Example:
    >>> Elemwise.onnx_rule                                       # doctest: +SKIP
    <function _elemwise ...>
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..batching import aligned
from ..registry import Unsupported, batch_rule, onnx_rule
from . import Elemwise, PowC, TypeCvt

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode, VarNode

INT64 = np.dtype("int64")


def _hsigmoid(x: Sym) -> Sym:
    return x.op("HardSigmoid", alpha=1.0 / 6, beta=0.5)


def _hswish(x: Sym) -> Sym:
    return x.op("HardSwish") if x.builder.opset >= 14 else x * _hsigmoid(x)


def _relu(x: Sym) -> Sym:
    return x.op("Relu") if x.dtype.kind == "f" else x.maximum(0)


def _softplus(x: Sym) -> Sym:
    """``log1p(exp(-|x|)) + max(x, 0)`` (stable for large ``|x|``)."""
    return (1 + (-x.unary("Abs")).op("Exp")).op("Log") + x.maximum(0)


def _erfinv(y: Sym) -> Sym:
    """Giles' single-precision approximation, then two Newton steps on ``Erf``."""
    yc = y.clip(-1.0, 1.0)
    w = -((1.0 - yc) * (1.0 + yc)).op("Log")
    ws, wl = w - 2.5, w.maximum(5.0).op("Sqrt") - 3.0
    p_small: Sym | float = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
              -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
        p_small = c + p_small * ws
    p_large: Sym | float = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
              -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
        p_large = c + p_large * wl
    x = (w < 5.0).select(p_small, p_large) * yc
    for _ in range(2):
        x = x - (x.op("Erf") - yc) / ((2.0 / math.sqrt(math.pi)) * (-(x * x)).op("Exp"))
    edge = yc.unary("Abs") == 1.0
    x = edge.select(yc.unary("Sign") * float("inf"), x)
    return (y.unary("Abs") > 1.0).select(float("nan"), x)  # outside [-1, 1]: NaN, as numpy


def _atan2(y: Sym, x: Sym) -> Sym:
    r = (y / x).op("Atan")
    r = (x < 0).select((y >= 0).select(r + math.pi, r - math.pi), r)
    return ((x == 0) & (y == 0)).select(0.0, r)


def _floor_div(a: Sym, b: Sym) -> Sym:
    if a.dtype.kind == "f":
        return (a / b).floor()
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
    fill = (wide < 0).select(-1, 0) if a.dtype.kind == "i" else wide * 0
    out = (count < 0) | (count >= (bits - 1 if a.dtype.kind == "i" else bits))
    count = out.select(0, count)
    power = a.builder.const(1, np.dtype(np.uint64)).binary(
        "BitShift", count.cast(np.dtype(np.uint64)), direction="LEFT").cast(INT64)
    return out.select(fill, _floor_div(wide, power)).cast(a.dtype)


def _log_sum_exp(a: Sym, b: Sym) -> Sym:
    return a.maximum(b) + (1 + (-(a - b).unary("Abs")).op("Exp")).op("Log")


def _isnan(x: Sym) -> Sym:
    if x.dtype.kind == "f":
        return x.op("IsNaN", dtype=np.bool_)
    return x.builder.const(False).expand(x.shape)


def _isinf(x: Sym) -> Sym:
    if x.dtype.kind == "f":
        return x.op("IsInf", dtype=np.bool_)
    return x.builder.const(False).expand(x.shape)


def round_half_away(x: Sym) -> Sym:
    """C's ``roundf`` (MegEngine's ``ROUND``, and how its ``TypeCvt`` to a quantized dtype
    rounds ``x / scale``), exact for every value (``floor(|x| + 0.5)`` rounds 0.49999997
    and 2**23 + 1 up); NaN stays NaN.

    float32: ``floor(|x| + h) * where(x < 0, -1, 1)``, ``h`` the float32 just below 0.5:
    the float32 sum rounds up to the next integer exactly when ``|x|`` is a half or more
    past one. (Not ``* sign(x)``: OpenVINO 2026.4 runs ``Sign`` on a reference kernel
    outside its fused elementwise pass, 46 of the 88 us the real MobileNetV2's int8
    input quantization took at batch 1, 29 us in this form; not ``where(x < 0, -r, r)``:
    onnxruntime's ``Where`` turns a ``-0.0`` into ``+0.0``.)
    Other dtypes: ``sign(x) * (f + (|x| - f >= 0.5))``, ``f = floor(|x|)``, whose steps
    are exact at any working precision (onnxruntime computes a float16 ``Add`` ->
    ``Floor`` in float32, unrounded, and the first form then rounded every half down).

    The one ONNX spelling: ``Elemwise(ROUND)``, the fake-quant ops and the int8 QDQ
    lowering's input quantization (:mod:`mge.runtime.int8_qdq`, through a Sym-like
    adapter) all build it.

    Example:
        >>> round_half_away(x)                                      # doctest: +SKIP
        <Sym Mul_out: float32[3]>
    """
    a = x.unary("Abs")
    if x.dtype == np.float32:
        half_below = np.nextafter(np.float32(0.5), np.float32(0))
        r = (a + half_below).floor()
        return r * (x < 0).select(np.float32(-1), np.float32(1))
    f = a.floor()
    return x.op("Sign") * (f + (a - f >= 0.5).cast(x.dtype))


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
    "ROUND": lambda x: round_half_away(x) if x.dtype.kind == "f" else x,
    "ERF": _unary("Erf"), "ERFC": lambda x: 1 - x.op("Erf"), "ERFINV": _erfinv,
    "ERFCINV": lambda x: _erfinv(1 - x), "H_SWISH": _hswish, "HSIGMOID": _hsigmoid,
    "NOT": _unary("Not"), "SILU": lambda x: x * x.op("Sigmoid"),
    "GELU": lambda x: x * 0.5 * (1.0 + (x / math.sqrt(2.0)).op("Erf")),
    "SINH": _unary("Sinh"), "COSH": _unary("Cosh"), "ASINH": _unary("Asinh"),
    "ACOSH": _unary("Acosh"), "ATANH": _unary("Atanh"), "TAN": _unary("Tan"),
    "SOFTPLUS": _softplus, "LOGSIGMOID": lambda x: -_softplus(-x),
    "RELU6": lambda x: x.clip(0, 6), "SQRT": _unary("Sqrt"), "SQUARE": lambda x: x * x,
    "SIGN": _unary("Sign"), "ISNAN": _isnan, "ISINF": _isinf,
    "ADD": lambda a, b: a + b, "SUB": lambda a, b: a - b, "MUL": lambda a, b: a * b,
    "TRUE_DIV": lambda a, b: a.binary("Div", b), "FLOOR_DIV": _floor_div,
    "MOD": lambda a, b: a.binary("Mod", b, fmod=1) if a.dtype.kind == "f" else a % b,
    "MAX": lambda a, b: a.maximum(b), "MIN": lambda a, b: a.minimum(b),
    "POW": lambda a, b: a.binary("Pow", b), "ATAN2": _atan2,
    "LT": lambda a, b: a < b, "LEQ": lambda a, b: a <= b, "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b, "AND": lambda a, b: a & b, "OR": lambda a, b: a | b,
    "XOR": lambda a, b: a.binary("Xor", b), "SHL": lambda a, b: _shift(a, b, True),
    "SHR": lambda a, b: _shift(a, b, False),
    "FUSE_ADD_RELU": lambda a, b: _relu(a + b),
    "FUSE_ADD_SIGMOID": lambda a, b: (a + b).op("Sigmoid"),
    "FUSE_ADD_TANH": lambda a, b: (a + b).op("Tanh"),
    "FUSE_ADD_H_SWISH": lambda a, b: _hswish(a + b),
    "SWITCH_GT0": lambda x, y: (x > 0).select(y, 0),
    "PRELU": lambda x, w: (x > 0).select(x, x * w),
    "LOG_SUM_EXP": _log_sum_exp,
    "FUSE_MUL_ADD3": lambda a, b, c: a * b + c,
    "FUSE_MUL_ADD4": lambda a, b, c, d: a * b + c * d,
    "COND_LEQ_MOV": lambda a, b, c: (a <= b).select(c, 0),
    "COND_LT_MOV": lambda a, b, c: (a < b).select(c, 0),
    "CLIP": lambda x, lo, hi: x.maximum(lo).minimum(hi),
}


def _scalar(ctx: ExportContext, var: VarNode) -> float | None:
    value = ctx.const_value(var)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _min_of_max(ctx: ExportContext, node: OpNode) -> tuple[VarNode, float, float] | None:
    """``MIN(MAX(x, lo), hi)`` with scalar constant bounds (how MegEngine dumps relu6)."""
    for k in (0, 1):
        hi, inner = _scalar(ctx, node.inputs[k]), node.inputs[1 - k].owner
        if hi is None or not isinstance(inner.op, Elemwise) or inner.op.mode != "MAX":
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


@onnx_rule(Elemwise)
def _elemwise(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    fn = ELEMWISE.get(node.op.mode)
    if fn is None:
        raise Unsupported(f"Elemwise mode {node.op.mode} has no ONNX form")
    out = _clip_op(ctx, node, xs) or fn(*xs)
    var = node.outputs[0]
    return [out.expand(var.shape).cast(var.dtype)]


@onnx_rule(PowC)
def _pow_c(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    exp = node.op.integer_exp()  # MegEngine's integer path: an exact integer power
    if exp is None and np.float32(node.op.exp) == 0.5:  # a square root: sqrt(-inf) is NaN
        return [xs[0].op("Sqrt")]
    return [xs[0].binary("Pow", ctx.const(node.op.exp if exp is None else exp, xs[0].dtype))]


@onnx_rule(TypeCvt)
def _type_cvt(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [xs[0].cast(node.outputs[0].dtype)]


batch_rule(Elemwise, TypeCvt, PowC)(aligned)

__all__ = ["ELEMWISE", "round_half_away"]
