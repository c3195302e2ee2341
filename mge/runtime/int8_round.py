"""MegEngine's quantization rounding in the int8 ONNX lowerings (:mod:`.int8_onnx`,
:mod:`.int8_qdq`): ``roundf(x / scale)``, ties away from zero, as its ``TypeCvt`` to a
quantized dtype computes it (float32 division, then C's ``roundf``).

ONNX's ``QuantizeLinear`` rounds ties to even; where a lowering must give MegEngine's
codes at ties (an image's ``2 * p / 255 - 1`` at scale ``1 / 127.5``, a requantization
from one int8 scale to another), it divides and rounds with the op home's
:func:`~mge.ops.elemwise.onnx_export.round_half_away`, built through :class:`Value`, so
that MegEngine's rounding has one ONNX spelling.

Example:
    >>> codes = megengine_codes(low, reals, qint8(0.02))        # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtype import get_scale
from ..ops.elemwise.onnx_export import round_half_away

#: the op names in this module's strings are ONNX's
OP_VOCABULARY = "onnx"
F32 = np.dtype(np.float32)


class Value:
    """A float32 value of a lowering (a name its ``node`` and ``const`` made) read as the
    op homes' ONNX helpers read a ``Sym`` (the methods ``round_half_away`` uses on
    float32)."""

    dtype = F32

    def __init__(self, low: Any, name: str) -> None:
        self.low, self.name = low, name

    def op(self, op_type: str) -> Value:
        return Value(self.low, self.low.node(op_type, [self.name]))

    unary = op

    def floor(self) -> Value:
        return self.op("Floor")

    def _binary(self, op_type: str, other: Value | np.float32) -> Value:
        right = other.name if isinstance(other, Value) else \
            self.low.const(np.asarray(other, F32), "c")
        return Value(self.low, self.low.node(op_type, [self.name, right]))

    def __add__(self, other: Value | np.float32) -> Value:
        return self._binary("Add", other)

    def __mul__(self, other: Value | np.float32) -> Value:
        return self._binary("Mul", other)

    def __lt__(self, other: np.float32) -> Value:
        return self._binary("Less", np.float32(other))

    def select(self, x: np.float32, y: np.float32) -> Value:
        """``where(self, x, y)`` of two constants."""
        consts = [self.low.const(np.asarray(v, F32), "c") for v in (x, y)]
        return Value(self.low, self.low.node("Where", [self.name, *consts]))


def megengine_codes(low: Any, reals: str, dtype: np.dtype, scale: str | None = None) -> str:
    """The float32 name of ``roundf(reals / scale)``, ``scale`` that of the quantized
    ``dtype`` (``scale``: its constant's name where the caller has one): the codes
    MegEngine's ``TypeCvt`` gives the float32 ``reals`` before their zero point and
    saturation (exact with a correctly rounded division: onnxruntime's; OpenVINO's CPU
    division is not always, see :func:`.int8_qdq._megengine_grid`)."""
    scale = scale or low.const(np.float32(get_scale(dtype)), "s")
    return rounded(low, low.node("Div", [reals, scale]))


def rounded(low: Any, name: str) -> str:
    """The float32 name of ``roundf`` of the float32 ``name`` (ties away from zero)."""
    return round_half_away(Value(low, name)).name


def requantized_codes(low: Any, reals: str, var: Any, out: str) -> None:
    """``out``: the codes of the quantized ``var`` (as they travel in ``low``: its
    ``vq`` zero point) that MegEngine's ``TypeCvt`` gives the float32 ``reals``: the
    rounded quotient, its zero point added and saturated by a ``QuantizeLinear`` of scale
    1 (exact on integers)."""
    codes = megengine_codes(low, reals, var.dtype)
    low.node("QuantizeLinear", [codes, low.const(np.float32(1), "one"), low.vq(var)[1]], out)


__all__ = ["Value", "megengine_codes", "requantized_codes", "rounded"]
