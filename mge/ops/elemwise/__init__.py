"""Elementwise ops: ``Elemwise`` (MegEngine's mode enum), ``PowC`` and ``TypeCvt``.

``Elemwise`` inputs must share one dtype (the functional layer inserts ``TypeCvt``
for promotion, as MegEngine does) and broadcast like numpy.

Example:
    >>> Elemwise(mode="ADD").infer([TensorInfo((2, 1), F32), TensorInfo((3,), F32)])[0].shape
    (2, 3)
"""

from __future__ import annotations

import types
from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, broadcast_shapes, register_op
from ...dtype import canonical_dtype, dtype_key, dtype_spec, is_dtype_equal, is_float, is_quantize

F32 = np.dtype("float32")
BOOL = np.dtype("bool")

#: mode name -> (arity, kind). kind: "float" (float inputs only), "any", "int" (integers/bools),
#: "cmp" (any inputs, bool output), "logic" (bool inputs and output).
ELEMWISE_MODES: dict[str, tuple[int, str]] = {
    # unary
    "RELU": (1, "any"), "ABS": (1, "any"), "NEGATE": (1, "any"), "ACOS": (1, "float"),
    "ASIN": (1, "float"), "CEIL": (1, "any"), "COS": (1, "float"), "EXP": (1, "float"),
    "EXPM1": (1, "float"), "FLOOR": (1, "any"), "LOG": (1, "float"), "LOG1P": (1, "float"),
    "SIGMOID": (1, "float"), "SIN": (1, "float"), "TANH": (1, "float"), "ROUND": (1, "any"),
    "ERF": (1, "float"), "ERFINV": (1, "float"), "ERFC": (1, "float"), "ERFCINV": (1, "float"),
    "H_SWISH": (1, "float"), "NOT": (1, "logic"), "SILU": (1, "float"), "GELU": (1, "float"),
    "SINH": (1, "float"), "COSH": (1, "float"), "ASINH": (1, "float"), "ACOSH": (1, "float"),
    "ATANH": (1, "float"), "TAN": (1, "float"), "SOFTPLUS": (1, "float"), "RELU6": (1, "any"),
    "HSIGMOID": (1, "float"), "LOGSIGMOID": (1, "float"), "SQRT": (1, "float"),
    "SQUARE": (1, "any"), "SIGN": (1, "any"), "FAST_TANH": (1, "float"),
    "ISNAN": (1, "cmp"), "ISINF": (1, "cmp"),
    # binary
    "ADD": (2, "any"), "SUB": (2, "any"), "MUL": (2, "any"), "TRUE_DIV": (2, "float"),
    "FLOOR_DIV": (2, "any"), "MOD": (2, "any"), "MAX": (2, "any"), "MIN": (2, "any"),
    "POW": (2, "float"), "ATAN2": (2, "float"), "LT": (2, "cmp"), "LEQ": (2, "cmp"),
    "EQ": (2, "cmp"), "NEQ": (2, "cmp"), "AND": (2, "logic"), "OR": (2, "logic"),
    "XOR": (2, "logic"), "SHL": (2, "int"), "SHR": (2, "int"), "FUSE_ADD_RELU": (2, "any"),
    "FUSE_ADD_SIGMOID": (2, "float"), "FUSE_ADD_TANH": (2, "float"),
    "FUSE_ADD_H_SWISH": (2, "float"), "SWITCH_GT0": (2, "any"), "PRELU": (2, "float"),
    "LOG_SUM_EXP": (2, "float"),
    # ternary and more
    "FUSE_MUL_ADD3": (3, "any"), "COND_LEQ_MOV": (3, "any"), "COND_LT_MOV": (3, "any"),
    "CLIP": (3, "any"), "FUSE_MUL_ADD4": (4, "any"),
}
#: comparisons (bool output): ``.mge`` files hold them as ``ElemwiseMultiType`` with a bool
#: output, as MegEngine records them. Written as ``Elemwise``, megdnn has no kernel for
#: ``NEQ``/``ISNAN``/``ISINF`` (MegEngine 1.13 Lite fails to load them) and computes
#: ``LT``/``LEQ``/``EQ`` in the input dtype, which ``NOT``/``AND`` after them refuse
MULTI_TYPE_MODES = tuple(m for m, (_, kind) in ELEMWISE_MODES.items() if kind == "cmp")
#: binary modes whose operands may swap (``f(a, b) == f(b, a)``)
COMMUTATIVE_MODES = frozenset({
    "ADD", "MUL", "MAX", "MIN", "EQ", "NEQ", "AND", "OR", "XOR", "LOG_SUM_EXP",
    "FUSE_ADD_RELU", "FUSE_ADD_SIGMOID", "FUSE_ADD_TANH", "FUSE_ADD_H_SWISH",
})
#: fused modes as (binary mode, the unary mode applied to its result)
FUSED_MODES: dict[str, tuple[str, str]] = {
    "FUSE_ADD_RELU": ("ADD", "RELU"), "FUSE_ADD_SIGMOID": ("ADD", "SIGMOID"),
    "FUSE_ADD_TANH": ("ADD", "TANH"), "FUSE_ADD_H_SWISH": ("ADD", "H_SWISH"),
}


@register_op
class Elemwise(OpDef):
    """Elementwise op; ``mode`` is a MegEngine ``Elemwise.Mode`` member name."""

    type_name = "Elemwise"
    format_rule = "any"
    memory = Memory.FRESH
    mge_form = MgeForm("Elemwise", ("Elemwise",))
    #: MegEngine's ``Elemwise.Mode``: ``Elemwise.Mode.ADD == "ADD"``
    Mode = types.SimpleNamespace(**{m: m for m in ELEMWISE_MODES})
    mode: str = "RELU"

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        spec = ELEMWISE_MODES.get(self.mode)
        if spec is None:
            self.fail(f"unknown mode {self.mode!r}")
        arity, kind = spec
        if len(inputs) != arity:
            self.fail(f"mode {self.mode} takes {arity} inputs, got {len(inputs)}", inputs)
        dtypes = {i.dtype for i in inputs}
        if len(dtypes) != 1:
            self.fail("inputs must share one dtype (insert TypeCvt first)", inputs)
        (dtype,) = dtypes
        dtype = inputs[0].dtype
        if any(is_quantize(i.dtype) for i in inputs) and not all(
                is_dtype_equal(i.dtype, dtype) for i in inputs):
            self.fail("quantized inputs must share one quantized dtype (scale and zero "
                      "point); ElemwiseMultiType mixes them", inputs)
        if kind == "float" and not is_float(dtype):
            self.fail(f"mode {self.mode} needs float inputs", inputs)
        if kind == "int" and dtype.kind not in "iu":
            self.fail(f"mode {self.mode} needs integer inputs", inputs)
        if kind == "logic" and dtype != BOOL:
            self.fail(f"mode {self.mode} needs bool inputs", inputs)
        out_dtype = BOOL if kind == "cmp" else dtype
        return [TensorInfo(broadcast_shapes(self, inputs), out_dtype)]

    def output_memory(self, outputs: Sequence[TensorInfo]) -> Memory:
        # integer and bool results may be returned as (views of) inputs by some backends
        return Memory.FRESH if all(is_float(o.dtype) for o in outputs) else Memory.MAY_ALIAS

    @property
    def commutative(self) -> bool:
        """Whether the two operands of this binary mode may swap."""
        return self.mode in COMMUTATIVE_MODES

    def binary_then_unary(self) -> tuple[str, str]:
        """This mode as (binary mode, unary mode applied after it): ``FUSE_ADD_RELU`` is
        ``("ADD", "RELU")``, a plain mode is ``(mode, "IDENTITY")``."""
        return FUSED_MODES.get(self.mode, (self.mode, "IDENTITY"))


def dtype_field(op: str, dtype: object) -> str:
    """An op's ``dtype`` field as the op keeps it: a string as given, a numpy dtype as its
    spec string (numpy's ``==`` and hash ignore a quantized dtype's scale, and ops, and
    what they key, must differ by scale).

    >>> from mge.dtype import qint8
    >>> dtype_field("TypeCvt", qint8(0.5)) != dtype_field("TypeCvt", qint8(0.25))
    True

    Raises:
        TypeError: ``dtype`` is not a dtype (the message names ``op``).
    """
    if isinstance(dtype, str):
        return dtype
    try:
        return dtype_spec(canonical_dtype(dtype))
    except TypeError as exc:
        raise TypeError(f"{op}: {exc}") from None


@register_op
class TypeCvt(OpDef):
    """Convert to ``dtype`` (a numpy dtype name such as ``"float16"``, or a quantized
    dtype as :func:`mge.dtype.dtype_spec` writes it: ``"QuantizedS8(scale=0.5)"``).

    From or to a quantized dtype the values are dequantized / quantized as MegEngine's
    TypeCvt does (float32, ``roundf``, saturation)."""

    type_name = "TypeCvt"
    format_rule = "first"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("TypeCvtV2", ("FullDType",))
    nr_inputs = (1,)
    dtype: str = "float32"

    def __post_init__(self) -> None:
        # MegEngine code passes numpy dtypes (see dtype_field)
        object.__setattr__(self, "dtype", dtype_field("TypeCvt", self.dtype))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        try:
            dt = canonical_dtype(self.dtype)
        except TypeError as exc:
            self.fail(str(exc), inputs)
        return [TensorInfo(inputs[0].shape, dt)]

    def in_float16(self, inputs: Sequence[TensorInfo], compute_f32: bool) -> OpDef:
        return TypeCvt(dtype="float16") if np.dtype(self.dtype) == np.float32 else self

    def is_noop(self, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> bool:
        # to its input's own dtype, quantization parameters included (numpy's == ignores them)
        return dtype_key(inputs[0].dtype) == dtype_key(outputs[0].dtype)


@register_op
class PowC(OpDef):
    """``x ** exp`` for a constant float exponent (MegEngine ``PowC``; real dumps hold it
    where a graph raised a tensor to a constant power).

    The input must be float; the output has its shape and dtype. An exponent within
    float32 epsilon of an integer is that integer (negative bases then give real
    results: ``(-2) ** 3 == -8``); any other exponent of a negative base gives NaN.

    Example:
        >>> PowC(exp=2.0).infer([TensorInfo((2, 3), F32)])[0].shape
        (2, 3)
    """

    type_name = "PowC"
    memory = Memory.FRESH
    mge_form = MgeForm("PowC", ("PowC",))
    nr_inputs = (1,)
    exp: float = 0.0

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if not is_float(inputs[0].dtype):
            self.fail("PowC needs a float input", inputs)
        return [TensorInfo(inputs[0].shape, inputs[0].dtype)]

    def integer_exp(self) -> int | None:
        """The exponent as an int when it is one within float32 epsilon (MegEngine's
        rule for taking the integer-power path), else ``None``."""
        exp = float(np.float32(self.exp))
        nearest = round(exp)
        return nearest if abs(nearest - exp) < np.finfo(np.float32).eps else None

    def is_noop(self, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> bool:
        return self.integer_exp() == 1


# gradient rules (reverse-mode autodiff: mge.core.autodiff)
from . import grad  # noqa: E402,F401
