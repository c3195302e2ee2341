"""Quantized ops: MegEngine's ``ElemwiseMultiType`` (its ``Q*`` modes) and the integer
semantics of the other ops on quantized dtypes.

Quantized tensors carry their scale (and zero point) in their dtype
(:func:`mge.dtype.qint8`...); a graph var's dtype does too. The ops of the other families
accept quantized inputs where MegEngine does (``TypeCvt`` to and from quantized dtypes,
``ConvBiasForward`` on ``QuantizedS8`` with a ``QuantizedS32`` bias, ``MatrixMul`` of two
``QuantizedS8`` giving ``QuantizedS32``, ``Elemwise`` on one quantized dtype, pooling);
their integer kernels live in :mod:`.numpy_kernels`. ``ElemwiseMultiType`` dequantizes
its inputs, applies its float mode and quantizes to its output ``dtype``.

Example:
    >>> from mge.dtype import dtype_spec, qint8
    >>> ElemwiseMultiType(mode="QADD", dtype=dtype_spec(qint8(0.5))).float_mode()
    'ADD'
"""

from __future__ import annotations

from collections.abc import Sequence

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, broadcast_shapes, register_op
from ...dtype import canonical_dtype, dtype_name, is_quantize
from ..elemwise import ELEMWISE_MODES, dtype_field
from .fake_quant import LSQ, TQT, FakeQuant


@register_op
class ElemwiseMultiType(OpDef):
    """MegEngine's ``ElemwiseMultiType`` in its quantized modes (``QADD``,
    ``QFUSE_ADD_RELU``, ``QMUL``, ``QH_SWISH``...): ``quantize(mode(dequantize(x)...))``
    to ``dtype`` (a :func:`mge.dtype.dtype_spec` string)."""

    type_name = "ElemwiseMultiType"
    memory = Memory.FRESH
    mge_form = MgeForm("ElemwiseMultiType", ("ElemwiseMultiType",))
    mode: str = "QADD"
    dtype: str = ""

    def __post_init__(self) -> None:
        # MegEngine code writes ``ElemwiseMultiType(mode="qadd", dtype=qint32(2.0))``: the
        # mode is kept upper-case and a numpy dtype as its spec string (numpy's == and hash
        # ignore the scale, which ops must not)
        object.__setattr__(self, "mode", str(self.mode).upper())
        object.__setattr__(self, "dtype", dtype_field("ElemwiseMultiType", self.dtype))

    def float_mode(self) -> str:
        """The ``Elemwise`` mode computed on the dequantized inputs."""
        return self.mode[1:]

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if not self.mode.startswith("Q") or self.float_mode() not in ELEMWISE_MODES:
            self.fail(f"mode {self.mode!r} is not supported (mge runs the quantized Q* modes "
                      "that have an Elemwise counterpart)", inputs)
        arity, kind = ELEMWISE_MODES[self.float_mode()]
        if len(inputs) != arity:
            self.fail(f"mode {self.mode} takes {arity} inputs, got {len(inputs)}", inputs)
        for k, i in enumerate(inputs):
            if not is_quantize(i.dtype):
                self.fail(f"input {k} must be quantized, got {dtype_name(i.dtype)}", inputs)
        if kind in ("cmp", "logic", "int"):
            self.fail(f"mode {self.mode} has no quantized result", inputs)
        try:
            out = canonical_dtype(self.dtype) if self.dtype else None
        except TypeError as exc:
            self.fail(str(exc), inputs)
        if out is None or not is_quantize(out):
            self.fail(f"dtype must be a quantized dtype, got {self.dtype!r}", inputs)
        return [TensorInfo(broadcast_shapes(self, inputs), out)]


from . import grad_fake_quant  # noqa: E402,F401

__all__ = ["LSQ", "TQT", "ElemwiseMultiType", "FakeQuant"]
