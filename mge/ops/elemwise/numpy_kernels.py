"""numpy kernels for ``Elemwise`` (by mode) and ``TypeCvt``; MegEngine's C semantics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...dtype import round_half_away
from ..registry import NUMPY, Prepared, PrepareSite
from . import Elemwise, PowC, TypeCvt
from .mathfn import erf, erfinv


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def _round(x: np.ndarray) -> np.ndarray:
    """C's ``roundf`` (exact: ``floor(|x| + 0.5)`` rounds 0.49999997 and 2**23 + 1 up)."""
    if x.dtype.kind != "f":
        return x
    return round_half_away(x)


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


@NUMPY.kernel(Elemwise)
def elemwise(op: Elemwise, *xs: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.asarray(ELEMWISE[op.mode](*xs))
    if out.dtype != np.bool_:
        out = out.astype(xs[0].dtype, copy=False)
    return out


@NUMPY.kernel(TypeCvt)
def type_cvt(op: TypeCvt, x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(op.dtype)


@NUMPY.kernel(PowC)
def pow_c(op: PowC, x: np.ndarray) -> np.ndarray:
    exp = op.integer_exp()
    with np.errstate(all="ignore"):
        out = np.power(x, x.dtype.type(op.exp if exp is None else exp))
    return np.ascontiguousarray(out, dtype=x.dtype)


# ------------------------------------------------------------------ plan preparation
F32 = np.dtype("float32")


def _relu_inplace(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _relu6_inplace(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 6, out=x)


def _sigmoid_inplace(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        np.negative(x, out=x)
        np.exp(x, out=x)
        x += 1
        return np.reciprocal(x, out=x)


def _h_swish_inplace(x: np.ndarray) -> np.ndarray:
    gate = np.clip(x + 3, 0, 6)
    gate *= 1 / 6
    x *= gate
    return x


#: nonlinearities applied in place on a fresh float array
INPLACE_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "IDENTITY": lambda x: x, "RELU": _relu_inplace, "RELU6": _relu6_inplace,
    "SIGMOID": _sigmoid_inplace, "H_SWISH": _h_swish_inplace,
}
#: binary elementwise modes as in-place binary ufuncs
INPLACE_BINARY: dict[str, np.ufunc] = {
    "ADD": np.add, "MUL": np.multiply, "SUB": np.subtract, "MAX": np.maximum,
    "MIN": np.minimum,
}


@NUMPY.preparer(Elemwise)
def prepare_elemwise(op: Elemwise, site: PrepareSite) -> Prepared | None:
    """float32 elementwise ops written into a dead input (``out=``) where one is donated."""
    mode, out = op.mode, site.outputs[0]
    if site.host is None or out.dtype != F32 or any(v.dtype != F32 for v in site.inputs):
        return None
    target = site.donated_like_output()
    if mode in INPLACE_UNARY and target == 0:
        return Prepared(INPLACE_UNARY[mode], (0,), 0)
    binary, act_name = op.binary_then_unary()
    if binary not in INPLACE_BINARY or act_name not in INPLACE_UNARY or len(site.inputs) != 2:
        return None
    ufunc, act = INPLACE_BINARY[binary], INPLACE_UNARY[act_name]
    if target == 0 or (target == 1 and op.commutative):
        other = 1 - target

        def inplace(*xs: np.ndarray) -> np.ndarray:
            return act(ufunc(xs[target], xs[other], out=xs[target]))

        return Prepared(inplace, (0, 1), target)
    if act_name == "IDENTITY":
        return None
    return Prepared(lambda a, b: act(ufunc(a, b)), (0, 1))
