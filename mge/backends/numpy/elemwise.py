"""numpy kernels for ``Elemwise`` (by mode) and ``TypeCvt``; MegEngine's C semantics."""

from __future__ import annotations

import numpy as np

from ...ops.elemwise import Elemwise, TypeCvt
from . import BACKEND
from .mathfn import erf, erfinv


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def _round(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind != "f":
        return x
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _hsigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 3, 0, 6) / 6


def _gelu(x: np.ndarray) -> np.ndarray:
    return x * 0.5 * (1.0 + erf(x / np.sqrt(2.0).astype(x.dtype)))


def _floor_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.dtype.kind == "f":
        return np.floor(x / y)
    with np.errstate(divide="ignore"):
        return np.floor_divide(x, y)


def _mod(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """C fmod for floats, floor-mod (sign of the divisor) for integers, as MegEngine."""
    with np.errstate(divide="ignore"):
        return np.fmod(x, y) if x.dtype.kind == "f" else np.mod(x, y)


ELEMWISE = {
    "RELU": lambda x: np.maximum(x, 0),
    "ABS": np.abs,
    "NEGATE": np.negative,
    "ACOS": np.arccos, "ASIN": np.arcsin, "COS": np.cos, "SIN": np.sin, "TAN": np.tan,
    "CEIL": np.ceil, "FLOOR": np.floor, "ROUND": _round,
    "EXP": np.exp, "EXPM1": np.expm1, "LOG": np.log, "LOG1P": np.log1p,
    "SIGMOID": _sigmoid, "TANH": np.tanh, "FAST_TANH": np.tanh,
    "ERF": erf, "ERFC": lambda x: 1 - erf(x), "ERFINV": erfinv,
    "ERFCINV": lambda x: erfinv(1 - x),
    "H_SWISH": lambda x: x * _hsigmoid(x), "HSIGMOID": _hsigmoid,
    "NOT": np.logical_not, "SILU": lambda x: x * _sigmoid(x), "GELU": _gelu,
    "SINH": np.sinh, "COSH": np.cosh, "ASINH": np.arcsinh, "ACOSH": np.arccosh,
    "ATANH": np.arctanh, "SOFTPLUS": _softplus, "LOGSIGMOID": lambda x: -_softplus(-x),
    "RELU6": lambda x: np.clip(x, 0, 6), "SQRT": np.sqrt, "SQUARE": np.square,
    "SIGN": np.sign, "ISNAN": np.isnan, "ISINF": np.isinf,
    "ADD": np.add, "SUB": np.subtract, "MUL": np.multiply, "TRUE_DIV": np.true_divide,
    "FLOOR_DIV": _floor_div, "MOD": _mod, "MAX": np.maximum, "MIN": np.minimum,
    "POW": np.power, "ATAN2": np.arctan2,
    "LT": np.less, "LEQ": np.less_equal, "EQ": np.equal, "NEQ": np.not_equal,
    "AND": np.logical_and, "OR": np.logical_or, "XOR": np.logical_xor,
    "SHL": np.left_shift, "SHR": np.right_shift,
    "FUSE_ADD_RELU": lambda x, y: np.maximum(x + y, 0),
    "FUSE_ADD_SIGMOID": lambda x, y: _sigmoid(x + y),
    "FUSE_ADD_TANH": lambda x, y: np.tanh(x + y),
    "FUSE_ADD_H_SWISH": lambda x, y: (x + y) * _hsigmoid(x + y),
    "SWITCH_GT0": lambda x, y: np.where(x > 0, y, 0),
    "PRELU": lambda x, w: np.where(x > 0, x, x * w),
    "LOG_SUM_EXP": np.logaddexp,
    "FUSE_MUL_ADD3": lambda x, y, z: x * y + z,
    "FUSE_MUL_ADD4": lambda a, b, c, d: a * b + c * d,
    "COND_LEQ_MOV": lambda x, y, z: np.where(x <= y, z, 0),
    "COND_LT_MOV": lambda x, y, z: np.where(x < y, z, 0),
    "CLIP": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
}


@BACKEND.kernel(Elemwise.type_name)
def elemwise(op: Elemwise, *xs: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.asarray(ELEMWISE[op.mode](*xs))
    if out.dtype != np.bool_:
        out = out.astype(xs[0].dtype, copy=False)
    return out


@BACKEND.kernel(TypeCvt.type_name)
def type_cvt(op: TypeCvt, x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(op.dtype)
