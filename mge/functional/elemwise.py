"""Elementwise functions and activations (MegEngine's ``F.*`` names and signatures).

Each function is one ``Elemwise``/``TypeCvt`` op through ``apply``; operands are
promoted with MegEngine's rules (``mge.dtype.result_dtype``) and Python scalars
become constants of the result dtype.

Example:
    >>> import mge, mge.functional as F
    >>> F.relu6(mge.tensor([-1.0, 3.0, 9.0])).numpy()
    array([0., 3., 6.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.apply import apply, mark_constant
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..dtype import (
    canonical_dtype,
    dtype_name,
    dtype_spec,
    float32,
    is_float,
    is_quantize,
    result_dtype,
)
from ..ops.elemwise import Elemwise, TypeCvt
from ..ops.quantized import ElemwiseMultiType


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor (others become constants on ``like``'s device)."""
    if isinstance(value, Tensor):
        return value
    return mark_constant(Tensor(value, device=like.device if like is not None else None))


def _operands(args: tuple, float_only: bool) -> list[Tensor]:
    args = tuple(
        mark_constant(Tensor(a)) if isinstance(a, (np.ndarray, list, tuple)) else a
        for a in args
    )
    first = next((a for a in args if isinstance(a, Tensor)), None)
    dt = result_dtype(*(a.dtype if isinstance(a, Tensor) else a for a in args))
    if float_only and not is_float(dt):
        dt = float32
    device = first.device if first is not None else None
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a if a.dtype == dt else astype(a, dt))
        else:
            out.append(mark_constant(Tensor(np.asarray(a, dtype=dt), device=device)))
    return out


def elemwise(mode: str, *args: Any, float_only: bool = False) -> Tensor:
    """Apply ``Elemwise(mode)`` to promoted operands (``float_only`` casts ints to float32)."""
    return apply(Elemwise(mode=mode), *_operands(args, float_only))[0]


@traceable
def astype(x: Tensor, dtype: Any) -> Tensor:
    """Convert ``x`` to ``dtype`` (64-bit types narrow to 32-bit as in MegEngine).

    To a quantized dtype (``mge.dtype.qint8(scale)``...) the values are quantized
    (``clip(round(x / scale) + zero_point)``); from one, they are dequantized first.

    Example:
        >>> import mge, mge.functional as F
        >>> from mge.dtype import qint8
        >>> q = F.astype(mge.tensor([0.26, -1.0]), qint8(0.1))
        >>> q.numpy().tolist(), F.astype(q, "float32").numpy().tolist()
        ([3, -10], [0.30000001192092896, -1.0])
    """
    x = as_tensor(x)
    dt = canonical_dtype(dtype)
    if is_quantize(dt) or is_quantize(x.dtype):
        if is_quantize(dt):
            return quantize(x, dt)
        return astype(dequantize(x), dt)
    if x.dtype == dt:
        return x
    return apply(TypeCvt(dtype=dt.name), x)[0]


def quantize(x: Tensor, dtype: np.dtype) -> Tensor:
    """Real values ``x`` in the quantized ``dtype``: float32 ``round(x / scale)`` (half away
    from zero), plus the zero point, saturated to the dtype's integer range (MegEngine's
    TypeCvt to a quantized dtype)."""
    # from another quantized dtype: one TypeCvt, as MegEngine's (it requantizes through
    # the float32 reals itself)
    real = x if x.dtype == float32 or is_quantize(x.dtype) else astype(x, float32)
    return apply(TypeCvt(dtype=dtype_spec(dtype)), real)[0]


def dequantize(x: Tensor) -> Tensor:
    """The float32 reals of a quantized tensor: ``(q - zero_point) * scale``.

    Raises:
        TypeError: ``x`` is not quantized.
    """
    if not is_quantize(x.dtype):
        raise TypeError(f"dequantize: expected a quantized tensor, got dtype {x.dtype}")
    return apply(TypeCvt(dtype="float32"), x)[0]


def _elwise(*args: Any, mode: str) -> Tensor:
    """MegEngine's internal ``_elwise``: one ``Elemwise`` by (case-insensitive) mode name."""
    return elemwise(mode.upper(), *args)


def _elemwise_multi_type(*args: Tensor, mode: str, dtype: Any = None) -> Tensor:
    """MegEngine's quantized elementwise ops (``ElemwiseMultiType``, modes ``"qadd"``,
    ``"qfuse_add_relu"``, ``"qabs"``...): the inputs dequantized, the float mode, the
    result quantized to ``dtype`` (MegEngine's rounding).

    Raises:
        ValueError: a mode without the ``q`` prefix, or a non-quantized input or ``dtype``.
    """
    if not mode.lower().startswith("q"):
        raise ValueError(f"_elemwise_multi_type: mode must start with 'q', got {mode!r}")
    dtype = np.dtype(dtype) if dtype is not None else None
    if dtype is None or not is_quantize(dtype):
        raise ValueError(f"_elemwise_multi_type({mode}): dtype must be quantized, got {dtype!r}")
    for i, a in enumerate(args):
        if not isinstance(a, Tensor) or not is_quantize(a.dtype):
            got = dtype_name(a.dtype) if isinstance(a, Tensor) else type(a).__name__
            raise ValueError(
                f"_elemwise_multi_type({mode}): input {i} must be a quantized tensor, got {got}"
            )
    return apply(ElemwiseMultiType(mode=mode.upper(), dtype=dtype_spec(dtype)), *args)[0]


def _unary(mode: str, name: str, float_only: bool = False, doc: str = ""):  # noqa: ANN202
    def fn(x: Any) -> Tensor:
        return elemwise(mode, x, float_only=float_only)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc or f"Elementwise ``{mode}``: ``F.{name}(x)``."
    return traceable(fn)


def _binary(mode: str, name: str, float_only: bool = False, swap: bool = False):  # noqa: ANN202
    def fn(x: Any, y: Any) -> Tensor:
        return elemwise(mode, *((y, x) if swap else (x, y)), float_only=float_only)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise ``{mode}`` with broadcasting: ``F.{name}(x, y)``."
    return traceable(fn)


add = _binary("ADD", "add")
sub = _binary("SUB", "sub")
mul = _binary("MUL", "mul")
div = _binary("TRUE_DIV", "div", float_only=True)
floor_div = _binary("FLOOR_DIV", "floor_div")
mod = _binary("MOD", "mod")
pow = _binary("POW", "pow", float_only=True)  # noqa: A001 - MegEngine name
maximum = _binary("MAX", "maximum")
minimum = _binary("MIN", "minimum")
atan2 = _binary("ATAN2", "atan2", float_only=True)
logaddexp = _binary("LOG_SUM_EXP", "logaddexp", float_only=True)
equal = _binary("EQ", "equal")
not_equal = _binary("NEQ", "not_equal")
less = _binary("LT", "less")
less_equal = _binary("LEQ", "less_equal")
greater = _binary("LT", "greater", swap=True)
greater_equal = _binary("LEQ", "greater_equal", swap=True)
logical_and = _binary("AND", "logical_and")
logical_or = _binary("OR", "logical_or")
logical_xor = _binary("XOR", "logical_xor")
left_shift = _binary("SHL", "left_shift")
right_shift = _binary("SHR", "right_shift")

neg = _unary("NEGATE", "neg")
abs = _unary("ABS", "abs")  # noqa: A001 - MegEngine name
logical_not = _unary("NOT", "logical_not")
exp = _unary("EXP", "exp", True)
expm1 = _unary("EXPM1", "expm1", True)
log = _unary("LOG", "log", True)
log1p = _unary("LOG1P", "log1p", True)
sqrt = _unary("SQRT", "sqrt", True)
square = _unary("SQUARE", "square")
sign = _unary("SIGN", "sign")
round = _unary("ROUND", "round")  # noqa: A001 - MegEngine name
ceil = _unary("CEIL", "ceil")
floor = _unary("FLOOR", "floor")
sin = _unary("SIN", "sin", True)
cos = _unary("COS", "cos", True)
tan = _unary("TAN", "tan", True)
asin = _unary("ASIN", "asin", True)
acos = _unary("ACOS", "acos", True)
sinh = _unary("SINH", "sinh", True)
cosh = _unary("COSH", "cosh", True)
tanh = _unary("TANH", "tanh", True)
asinh = _unary("ASINH", "asinh", True)
acosh = _unary("ACOSH", "acosh", True)
atanh = _unary("ATANH", "atanh", True)
erf = _unary("ERF", "erf", True)
isnan = _unary("ISNAN", "isnan")
isinf = _unary("ISINF", "isinf")

relu = _unary("RELU", "relu", doc="Rectified linear unit: ``max(x, 0)``.")
relu6 = _unary("RELU6", "relu6", doc="``min(max(x, 0), 6)``.")
sigmoid = _unary("SIGMOID", "sigmoid", True, doc="Logistic sigmoid ``1 / (1 + exp(-x))``.")
hsigmoid = _unary("HSIGMOID", "hsigmoid", True, doc="Hard sigmoid ``relu6(x + 3) / 6``.")
hswish = _unary("H_SWISH", "hswish", True, doc="Hard swish ``x * relu6(x + 3) / 6``.")
silu = _unary("SILU", "silu", True, doc="``x * sigmoid(x)``.")
gelu = _unary("GELU", "gelu", True, doc="Gaussian error linear unit (exact, erf-based).")
softplus = _unary("SOFTPLUS", "softplus", True, doc="``log(1 + exp(x))``, computed stably.")
logsigmoid = _unary("LOGSIGMOID", "logsigmoid", True, doc="``log(sigmoid(x))``.")


@traceable
def atan(x: Any) -> Tensor:
    """Arctangent, as ``atan2(x, 1)`` (MegEngine has no ATAN mode)."""
    return atan2(x, 1.0)


@traceable
def clip(x: Tensor, lower: Any = None, upper: Any = None) -> Tensor:
    """Clamp ``x`` into ``[lower, upper]`` (either bound may be None).

    Raises:
        ValueError: when both bounds are None.
    """
    if lower is None and upper is None:
        raise ValueError("clip: lower and upper cannot both be None")
    if lower is not None:
        x = maximum(x, lower)
    if upper is not None:
        x = minimum(x, upper)
    return x


@traceable
def leaky_relu(inp: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x if x > 0 else negative_slope * x``."""
    return maximum(inp, 0.0) + negative_slope * minimum(inp, 0.0)


@traceable
def prelu(inp: Tensor, weight: Tensor) -> Tensor:
    """Parametric ReLU: ``max(x, 0) + weight * min(x, 0)``."""
    return maximum(inp, 0.0) + weight * minimum(inp, 0.0)


__all__ = [
    "abs", "acos", "acosh", "add", "asin", "asinh", "astype", "atan", "atan2",
    "atanh", "ceil", "clip", "cos", "cosh", "div", "equal", "erf", "exp", "expm1",
    "floor", "floor_div", "gelu", "greater", "greater_equal", "hsigmoid", "hswish", "isinf",
    "isnan", "leaky_relu", "left_shift", "less", "less_equal", "log", "log1p", "logaddexp",
    "logical_and", "logical_not", "logical_or", "logical_xor", "logsigmoid", "maximum", "minimum",
    "mod", "mul", "neg", "not_equal", "pow", "prelu", "relu", "relu6", "right_shift", "round",
    "sigmoid", "sign", "silu", "sin", "sinh", "softplus", "sqrt", "square", "sub", "tan", "tanh",
]
