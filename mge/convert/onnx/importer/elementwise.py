"""ONNX converters for comparisons, logic, trigonometry, rounding and activations, written
with MegEngine's elementwise modes (see :mod:`.node`).

Operands may be run-time values or constants alike: every op here is elementwise, so
nothing needs to be known at import time. Where ONNX and MegEngine round differently
(``Round`` halves to even, ``Mod`` of integers with ``fmod=1``) the ONNX rule is composed.

Example:
    >>> import mge
    >>> Round()(None, mge.tensor([0.5, 1.5, 2.5, -0.5])).numpy()
    array([ 0.,  2.,  2., -0.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Call, Converted, Node, OnnxOp, Unsupported, converter

_UNARY = {
    "Not": "logical_not", "Sin": "sin", "Cos": "cos", "Tan": "tan", "Asin": "asin",
    "Acos": "acos", "Atan": "atan", "Sinh": "sinh", "Cosh": "cosh", "Asinh": "asinh",
    "Acosh": "acosh", "Atanh": "atanh", "Sign": "sign", "IsNaN": "isnan",
}
_BINARY = {
    "Equal": "equal", "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
    "GreaterOrEqual": "greater_equal", "And": "logical_and", "Or": "logical_or",
    "Xor": "logical_xor",
}


@converter(*_UNARY)
def _unary(node: Node, ctx: Any) -> Converted:
    return Call(_UNARY[node.op_type]), node.inputs[:1], node.outputs[:1]


@converter(*_BINARY)
def _binary(node: Node, ctx: Any) -> Converted:
    return Call(_BINARY[node.op_type]), node.inputs[:2], node.outputs[:1]


@converter("Where")
def _where(node: Node, ctx: Any) -> Converted:
    return Call("where"), node.inputs[:3], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Reciprocal(OnnxOp):
    """``1 / x`` in the type of ``x``."""

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return F.div(F.ones_like(x), x)


@converter("Reciprocal")
def _reciprocal(node: Node, ctx: Any) -> Converted:
    return Reciprocal(), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Round(OnnxOp):
    """Round half to even (MegEngine's ROUND rounds halves away from zero)."""

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        low = F.floor(x)
        frac = F.sub(x, low)
        half = F.mul(low, 0.5)
        odd = F.not_equal(F.floor(half), half)
        up = F.logical_or(F.greater(frac, F.full_like(frac, 0.5)),
                          F.logical_and(F.equal(frac, F.full_like(frac, 0.5)), odd))
        return F.add(low, F.astype(up, x.dtype))


@converter("Round")
def _round(node: Node, ctx: Any) -> Converted:
    return Round(), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class IsInf(OnnxOp):
    """``isinf`` limited to the signs asked for."""

    positive: bool
    negative: bool

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        inf = F.isinf(x)
        if self.positive and self.negative:
            return inf
        if not (self.positive or self.negative):
            return F.zeros_like(inf)
        zero = F.zeros_like(x)
        return F.logical_and(inf, F.greater(x, zero) if self.positive else F.less(x, zero))


@converter("IsInf")
def _isinf(node: Node, ctx: Any) -> Converted:
    op = IsInf(bool(node.attr("detect_positive", 1)), bool(node.attr("detect_negative", 1)))
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Mod(OnnxOp):
    """ONNX Mod. ``fmod=0``: the sign of the divisor (as ``np.mod``), which is MegEngine's
    integer MOD and, for floats, its float MOD (C ``fmod``) plus ``b`` where the signs
    differ; ``fmod=1``: the sign of the dividend, MegEngine's float MOD, and for integers
    ``a - b * trunc(a / b)``."""

    fmod: bool

    def __call__(self, mod: Any, a: Tensor, b: Tensor) -> Tensor:
        is_float = np.dtype(a.dtype).kind == "f"
        if self.fmod == is_float:
            return F.mod(a, b)
        if is_float:
            rest = F.mod(a, b)
            zero = F.zeros_like(rest)
            flip = F.logical_and(F.not_equal(rest, zero),
                                 F.not_equal(F.less(rest, zero), F.less(b, zero)))
            return F.where(flip, F.add(rest, b), rest)
        quotient = F.mul(F.mul(F.sign(a), F.sign(b)), F.floor_div(F.abs(a), F.abs(b)))
        return F.sub(a, F.mul(b, quotient))


@converter("Mod")
def _mod(node: Node, ctx: Any) -> Converted:
    return Mod(bool(node.attr("fmod", 0))), node.inputs[:2], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class BitShift(OnnxOp):
    """``x << y`` or ``x >> y`` (unsigned integers)."""

    left: bool

    def __call__(self, mod: Any, x: Tensor, y: Tensor) -> Tensor:
        return (F.left_shift if self.left else F.right_shift)(x, y)


@converter("BitShift")
def _bit_shift(node: Node, ctx: Any) -> Converted:
    direction = node.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise Unsupported(f"BitShift direction {direction!r}")
    return BitShift(direction == "LEFT"), node.inputs[:2], node.outputs[:1]


# ------------------------------------------------------------------ activations
@dataclasses.dataclass(frozen=True)
class Activation(OnnxOp):
    """One ONNX activation with its attributes, composed of elementwise modes."""

    kind: str
    alpha: float = 0.0
    beta: float = 0.0

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        a, b, zero = self.alpha, self.beta, F.zeros_like(x)
        if self.kind == "Elu":  # x > 0 ? x : alpha * (exp(x) - 1)
            return F.where(F.greater(x, zero), x, F.mul(F.expm1(x), a))
        if self.kind == "Selu":  # gamma (beta) * elu_alpha(x)
            elu = F.where(F.greater(x, zero), x, F.mul(F.expm1(x), a))
            return F.mul(elu, b)
        if self.kind == "Celu":  # max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
            neg = F.mul(F.expm1(F.div(x, F.full_like(x, a))), a)
            return F.add(F.relu(x), F.minimum(zero, neg))
        if self.kind == "ThresholdedRelu":
            return F.where(F.greater(x, F.full_like(x, a)), x, zero)
        if self.kind == "Softsign":
            return F.div(x, F.add(F.abs(x), F.ones_like(x)))
        if self.kind == "Mish":
            return F.mul(x, F.tanh(F.softplus(x)))
        if self.kind == "Swish":
            return F.mul(x, F.sigmoid(F.mul(x, a)))
        if self.kind == "GeluTanh":  # 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
            inner = F.mul(F.add(x, F.mul(F.mul(F.mul(x, x), x), 0.044715)),
                          math.sqrt(2 / math.pi))
            return F.mul(F.mul(x, 0.5), F.add(F.tanh(inner), F.ones_like(x)))
        if self.kind == "Shrink":  # x < -lambd ? x + bias : x > lambd ? x - bias : 0
            lambd, bias = F.full_like(x, a), F.full_like(x, b)
            return F.where(F.less(x, F.neg(lambd)), F.add(x, bias),
                           F.where(F.greater(x, lambd), F.sub(x, bias), zero))
        raise AssertionError(f"unknown activation {self.kind}")


@converter("Elu", "Selu", "Celu", "ThresholdedRelu", "Softsign", "Mish", "Swish", "Shrink")
def _activation(node: Node, ctx: Any) -> Converted:
    defaults = {"Elu": (1.0, 0.0), "Selu": (1.67326319217681884765625, 0.0),
                "Celu": (1.0, 0.0), "ThresholdedRelu": (1.0, 0.0), "Swish": (1.0, 0.0),
                "Shrink": (0.5, 0.0)}
    alpha, beta = defaults.get(node.op_type, (0.0, 0.0))
    if node.op_type == "Shrink":
        alpha, beta = float(node.attr("lambd", alpha)), float(node.attr("bias", beta))
    else:
        alpha = float(node.attr("alpha", alpha))
    if node.op_type == "Selu":
        beta = float(node.attr("gamma", 1.05070102214813232421875))
    return Activation(node.op_type, alpha, beta), node.inputs[:1], node.outputs[:1]


@converter("Gelu")
def _gelu(node: Node, ctx: Any) -> Converted:
    approximate = node.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"Gelu approximate={approximate!r}")
    op = Call("gelu") if approximate == "none" else Activation("GeluTanh")
    return op, node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
