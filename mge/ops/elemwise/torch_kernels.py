"""torch kernels for ``Elemwise`` and ``TypeCvt`` (MegEngine's C semantics, like numpy's)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as tF

from ..registry import TORCH, Prepared, PrepareSite
from ..torch_arrays import torch_dtype
from . import Elemwise, PowC, TypeCvt


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's ``roundf``: ties away from zero, exactly (``floor(|x| + 0.5)`` would round
    0.49999997 and 2**23 + 1 up); integers stay."""
    if not x.is_floating_point():
        return x
    t = torch.trunc(x)
    return t + torch.copysign(((x - t).abs() >= 0.5).to(x.dtype), x)


def _floor_div(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``floor(x / y)`` for floats (infinities stay infinite, as numpy's), floor division
    for integers."""
    if x.is_floating_point():
        return torch.floor(x / y)
    return torch.div(x, y, rounding_mode="floor")


def _sign(x: torch.Tensor) -> torch.Tensor:
    """``sign`` that keeps NaN (torch's gives 0)."""
    out = torch.sign(x)
    return torch.where(x.isnan(), x, out) if x.is_floating_point() else out


def _gelu(x: torch.Tensor) -> torch.Tensor:
    """The exact GELU, written out as numpy's so that ``gelu(inf)`` is ``inf``."""
    return x * 0.5 * (1.0 + torch.erf(x * 0.7071067811865476))


def _where0(cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return torch.where(cond, z, torch.zeros((), dtype=z.dtype, device=z.device))


def _switch_gt0(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y`` where ``x > 0``, else 0 (ReLU's gradient). On CPU, for same-shape float
    operands without a NaN in ``x``, aten's ``threshold_backward`` (one select pass, about
    3x faster than ``where``); it would pass the gradient through where ``x`` is NaN, so a
    NaN (seen as a NaN sum, one cheap reduction) takes the ``where`` path. Fixing the NaN
    positions afterwards, ``nan_to_num``/``fmax`` on ``x`` or one ``where`` were all
    measured slower (``bench/relu_grad.py``)."""
    if x.device.type == "cpu" and x.is_floating_point() and x.dtype == y.dtype and \
            x.shape == y.shape and not bool(x.sum().isnan()):
        return torch.ops.aten.threshold_backward(y, x, 0)
    return _where0(x > 0, y)


def _mod(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C fmod for floats, floor-mod (sign of the divisor) for integers, as MegEngine."""
    return torch.fmod(x, y) if x.is_floating_point() else torch.remainder(x, y)


ELEMWISE = {
    "RELU": torch.relu, "ABS": torch.abs, "NEGATE": torch.neg,
    "ACOS": torch.acos, "ASIN": torch.asin, "COS": torch.cos, "SIN": torch.sin,
    "TAN": torch.tan, "CEIL": torch.ceil, "FLOOR": torch.floor, "ROUND": round_half_away,
    "EXP": torch.exp, "EXPM1": torch.expm1, "LOG": torch.log, "LOG1P": torch.log1p,
    "SIGMOID": torch.sigmoid, "TANH": torch.tanh, "FAST_TANH": torch.tanh,
    "ERF": torch.erf, "ERFC": torch.erfc, "ERFINV": torch.erfinv,
    "ERFCINV": lambda x: torch.erfinv(1 - x),
    "H_SWISH": tF.hardswish, "HSIGMOID": tF.hardsigmoid, "NOT": torch.logical_not,
    "SILU": tF.silu, "GELU": _gelu, "SINH": torch.sinh, "COSH": torch.cosh,
    "ASINH": torch.asinh, "ACOSH": torch.acosh, "ATANH": torch.atanh,
    "SOFTPLUS": tF.softplus, "LOGSIGMOID": tF.logsigmoid,
    "RELU6": lambda x: torch.clamp(x, 0, 6), "SQRT": torch.sqrt, "SQUARE": torch.square,
    "SIGN": _sign, "ISNAN": torch.isnan, "ISINF": torch.isinf,
    "ADD": torch.add, "SUB": torch.sub, "MUL": torch.mul, "TRUE_DIV": torch.div,
    "FLOOR_DIV": _floor_div, "MOD": _mod, "MAX": torch.maximum, "MIN": torch.minimum,
    "POW": torch.pow, "ATAN2": torch.atan2,
    "LT": torch.lt, "LEQ": torch.le, "EQ": torch.eq, "NEQ": torch.ne,
    "AND": torch.logical_and, "OR": torch.logical_or, "XOR": torch.logical_xor,
    "SHL": torch.bitwise_left_shift, "SHR": torch.bitwise_right_shift,
    "FUSE_ADD_RELU": lambda x, y: torch.relu(x + y),
    "FUSE_ADD_SIGMOID": lambda x, y: torch.sigmoid(x + y),
    "FUSE_ADD_TANH": lambda x, y: torch.tanh(x + y),
    "FUSE_ADD_H_SWISH": lambda x, y: tF.hardswish(x + y),
    "SWITCH_GT0": _switch_gt0,
    "PRELU": lambda x, w: torch.where(x > 0, x, x * w),
    "LOG_SUM_EXP": torch.logaddexp,
    "FUSE_MUL_ADD3": lambda x, y, z: torch.addcmul(z, x, y),
    "FUSE_MUL_ADD4": lambda a, b, c, d: a * b + c * d,
    "COND_LEQ_MOV": lambda x, y, z: _where0(x <= y, z),
    "COND_LT_MOV": lambda x, y, z: _where0(x < y, z),
    "CLIP": lambda x, lo, hi: torch.minimum(torch.maximum(x, lo), hi),
}


@TORCH.kernel(Elemwise)
def elemwise(op: Elemwise, *xs: torch.Tensor) -> torch.Tensor:
    return ELEMWISE[op.mode](*xs)


@TORCH.kernel(TypeCvt)
def type_cvt(op: TypeCvt, x: torch.Tensor) -> torch.Tensor:
    return x.to(torch_dtype(op.dtype))


@TORCH.kernel(PowC)
def pow_c(op: PowC, x: torch.Tensor) -> torch.Tensor:
    exp = op.integer_exp()
    return torch.pow(x, op.exp if exp is None else exp)


# ------------------------------------------------------------------ plan preparation
#: in-place nonlinearities on a fresh float tensor
INPLACE_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "IDENTITY": lambda x: x, "RELU": torch.relu_, "SIGMOID": torch.sigmoid_,
    "H_SWISH": lambda x: tF.hardswish(x, inplace=True),
    "RELU6": lambda x: x.clamp_(0, 6), "TANH": torch.tanh_,
}
#: binary elementwise modes as in-place tensor method names
INPLACE_BINARY: dict[str, str] = {"ADD": "add_", "MUL": "mul_", "SUB": "sub_"}


@TORCH.preparer(TypeCvt)
def prepare_type_cvt(op: TypeCvt, site: PrepareSite) -> Prepared | None:
    """A cast to the plan's dtype for the target (its compute dtype for floats)."""
    if site.host is None:
        return None
    target = site.host.dtype_of(np.dtype(op.dtype))
    return Prepared(lambda x: x.to(target), (0,))


@TORCH.preparer(Elemwise)
def prepare_elemwise(op: Elemwise, site: PrepareSite) -> Prepared | None:
    """Float elementwise ops written into a dead input (``add_``, ``relu_``) where one is
    donated."""
    mode, out = op.mode, site.outputs[0]
    if site.host is None or out.dtype.kind != "f" or \
            any(v.dtype != out.dtype for v in site.inputs):
        return None
    target = site.donated_like_output()
    if mode in INPLACE_UNARY and len(site.inputs) == 1:
        act = INPLACE_UNARY[mode]
        if target == 0:
            return Prepared(act, (0,), 0)
        fn = ELEMWISE[mode]
        return Prepared(fn, (0,))
    binary, act_name = op.binary_then_unary()
    if binary not in INPLACE_BINARY or act_name not in INPLACE_UNARY or len(site.inputs) != 2:
        return None
    method, act = INPLACE_BINARY[binary], INPLACE_UNARY[act_name]
    if target == 0 or (target == 1 and op.commutative):
        other = 1 - target
        call = getattr(torch.Tensor, method)

        def inplace(*xs: torch.Tensor) -> torch.Tensor:
            return act(call(xs[target], xs[other]))

        return Prepared(inplace, (0, 1), target)
    plain = getattr(torch, method.rstrip("_"))
    return Prepared(lambda a, b: act(plain(a, b)), (0, 1))
