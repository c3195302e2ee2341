"""ONNX's quantization ops: ``QuantizeLinear``, ``DequantizeLinear``,
``DynamicQuantizeLinear``, ``MatMulInteger`` and ``QLinearMatMul``, imported with their
exact integer semantics on plain integer tensors.

Rounding is half to even, as ONNX specifies. Integer products are computed in float32
only while every partial sum stays below 2**24 (exact); a larger reduction splits one
operand into a high and a low part (two exact products, summed in int32), and a
reduction too long even then is refused at run time (never a rounded result).
Requantization (``QLinearMatMul``) multiplies the int32 accumulator by
``a_scale * b_scale / y_scale`` in float32, as onnxruntime does.

Example:
    >>> import mge, numpy as np
    >>> op = QuantizeLinearOp(axis=1, has_zero_point=False)
    >>> op(None, mge.tensor([-1.0, 0.5, 1.5, 2.5, 300.0]), mge.tensor(1.0)).numpy()
    array([  0,   0,   2,   2, 255], dtype=uint8)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter

#: integer element types of quantized values: numpy dtype name -> (qmin, qmax)
_RANGES = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535),
           "int16": (-32768, 32767)}
_EXACT = float(2 ** 24)  # float32 holds every integer of smaller magnitude


def rint(v: Tensor) -> Tensor:
    """Round half to even (``np.rint``) with ``mge.functional`` ops."""
    r = F.floor(v + 0.5)
    tie = F.equal(r - v, 0.5)
    odd = F.not_equal(F.floor(r * 0.5) * 2.0, r)
    return r - F.astype(F.logical_and(tie, odd), v.dtype)


def _range(dtype: Any, what: str) -> tuple[int, int]:
    name = np.dtype(dtype).name
    if name not in _RANGES:
        raise ValueError(f"{what}: quantized values of dtype {name} are not supported "
                         f"(mge imports {', '.join(_RANGES)})")
    return _RANGES[name]


def _along(param: Tensor, x: Tensor, axis: int) -> Tensor:
    """A 1-d per-axis ``param`` shaped to broadcast along ``axis`` of ``x``."""
    if param.ndim == 0 or param.size == 1 and param.ndim <= 1:
        return param.reshape(()) if param.ndim else param
    if param.ndim != 1:
        raise ValueError(f"per-axis quantization parameters must be 1-d, got {param.shape}")
    axis = axis + x.ndim if axis < 0 else axis
    shape = [1] * x.ndim
    shape[axis] = param.shape[0]
    return param.reshape(shape)


def _quantize(x: Tensor, scale: Tensor, zero_point: Tensor | None, dtype: Any,
              axis: int) -> Tensor:
    qmin, qmax = _range(dtype, "QuantizeLinear")
    scale = F.astype(_along(scale, x, axis), x.dtype)
    q = rint(x / scale)
    if zero_point is not None:
        q = q + F.astype(_along(zero_point, x, axis), x.dtype)
    return F.astype(F.clip(q, float(qmin), float(qmax)), np.dtype(dtype).name)


@dataclasses.dataclass(frozen=True)
class QuantizeLinearOp(OnnxOp):
    """``saturate(rint(x / scale) + zero_point)``; uint8 without a zero point."""

    axis: int
    has_zero_point: bool

    def __call__(self, mod: Any, x: Tensor, scale: Tensor, *zp: Tensor) -> Tensor:
        zero_point = zp[0] if self.has_zero_point else None
        dtype = zero_point.dtype if zero_point is not None else np.uint8
        return _quantize(F.astype(x, "float32") if x.dtype == np.float16 and
                         scale.dtype != np.float16 else x, scale, zero_point, dtype, self.axis)


@dataclasses.dataclass(frozen=True)
class DequantizeLinearOp(OnnxOp):
    """``(float32(x) - float32(zero_point)) * scale`` in the scale's dtype."""

    axis: int
    has_zero_point: bool

    def __call__(self, mod: Any, x: Tensor, scale: Tensor, *zp: Tensor) -> Tensor:
        if np.dtype(x.dtype).name not in (*_RANGES, "int32"):
            raise ValueError(f"DequantizeLinear: input of dtype {x.dtype} is not supported")
        v = F.astype(x, "float32")
        if self.has_zero_point:
            v = v - F.astype(_along(zp[0], x, self.axis), "float32")
        y = v * F.astype(_along(scale, x, self.axis), "float32")
        return y if scale.dtype == np.float32 else F.astype(y, scale.dtype)


@dataclasses.dataclass(frozen=True)
class DynamicQuantizeLinearOp(OnnxOp):
    """uint8 quantization over the range of ``x`` widened to hold 0."""

    def __call__(self, mod: Any, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        lo = F.minimum(F.min(x), 0.0)
        hi = F.maximum(F.max(x), 0.0)
        scale = (hi - lo) / 255.0
        zero_point = F.clip(rint(-lo / scale), 0.0, 255.0)
        y = F.clip(rint(x / scale) + zero_point, 0.0, 255.0)
        return F.astype(y, "uint8"), scale, F.astype(zero_point, "uint8")


def _centered(x: Tensor, zero_point: Tensor | None, axis: int) -> Tensor:
    """``float32(x - zero_point)`` (exact: 16-bit integers)."""
    v = F.astype(x, "float32")
    if zero_point is None:
        return v
    zp = F.astype(zero_point, "float32")
    if zp.ndim == 1 and zp.shape[0] > 1:
        shape = [1] * x.ndim
        shape[axis] = zp.shape[0]
        zp = zp.reshape(shape)
    return v - zp


def _bound(dtype: Any) -> float:
    """The largest ``|x - zero_point|`` for values of ``dtype``."""
    qmin, qmax = _range(dtype, "integer matmul")
    return float(qmax - qmin)


def exact_matmul(a: Tensor, b: Tensor, a_bound: float, b_bound: float, what: str) -> Tensor:
    """``int32(a @ b)`` of float32 tensors holding integers ``|a| <= a_bound``,
    ``|b| <= b_bound``, computed exactly (float32 sums below 2**24, ``b`` split in two
    base-16 digits when needed); ``ValueError`` when the reduction is too long."""
    k = a.shape[-1]
    if k * a_bound * b_bound < _EXACT:
        return F.astype(F.matmul(a, b), "int32")
    if k * a_bound * 16.0 >= _EXACT:
        raise ValueError(f"{what}: a reduction over {k} products of {a.dtype} values is "
                         "longer than mge computes exactly")
    high = F.floor(b / 16.0)
    low = b - high * 16.0
    return F.astype(F.matmul(a, high), "int32") * 16 + F.astype(F.matmul(a, low), "int32")


@dataclasses.dataclass(frozen=True)
class MatMulIntegerOp(OnnxOp):
    """``int32((a - a_zero_point) @ (b - b_zero_point))``."""

    has_a_zero_point: bool
    has_b_zero_point: bool

    def __call__(self, mod: Any, a: Tensor, b: Tensor, *zps: Tensor) -> Tensor:
        zps_left = list(zps)
        a_zp = zps_left.pop(0) if self.has_a_zero_point else None
        b_zp = zps_left.pop(0) if self.has_b_zero_point else None
        a_c = _centered(a, a_zp, a.ndim - 2 if a.ndim > 1 else 0)
        b_c = _centered(b, b_zp, b.ndim - 1)
        return exact_matmul(a_c, b_c, _bound(a.dtype), _bound(b.dtype), "MatMulInteger")


@dataclasses.dataclass(frozen=True)
class QLinearMatMulOp(OnnxOp):
    """``saturate(rint(int32 accumulator * (a_scale * b_scale / y_scale)) + y_zero_point)``."""

    def __call__(self, mod: Any, a: Tensor, a_scale: Tensor, a_zp: Tensor, b: Tensor,
                 b_scale: Tensor, b_zp: Tensor, y_scale: Tensor, y_zp: Tensor) -> Tensor:
        acc = exact_matmul(_centered(a, a_zp, a.ndim - 2), _centered(b, b_zp, b.ndim - 1),
                           _bound(a.dtype), _bound(b.dtype), "QLinearMatMul")
        scales = [F.astype(s, "float32") for s in (a_scale, b_scale, y_scale)]
        multiplier = scales[0] * scales[1] / scales[2]
        qmin, qmax = _range(y_zp.dtype, "QLinearMatMul")
        y = rint(F.astype(acc, "float32") * multiplier) + F.astype(y_zp, "float32")
        return F.astype(F.clip(y, float(qmin), float(qmax)), np.dtype(y_zp.dtype).name)


def _plain_per_axis(node: Node) -> None:
    node.reject_attrs(block_size=0)
    if node.attr("output_dtype", 0) not in (0, 2, 3, 4, 5):
        raise Unsupported(f"output_dtype={node.attr('output_dtype')} is not supported "
                          "(mge quantizes to 8 and 16 bit integers)")


def _check_elem(node: Node, ctx: Any, index: int, allowed: tuple[str, ...]) -> None:
    dtype = ctx.dtypes.get(node.input(index)) if node.input(index) else None
    if dtype is not None and np.dtype(dtype).name not in allowed:
        raise Unsupported(f"{node.op_type} input {index} ({node.input(index)!r}) is "
                          f"{np.dtype(dtype).name}; mge imports {', '.join(allowed)}")


_QTYPES = tuple(_RANGES)


@converter("QuantizeLinear")
def _quantize_linear(node: Node, ctx: Any) -> Converted:
    _plain_per_axis(node)
    _check_elem(node, ctx, 2, _QTYPES)
    if node.attr("output_dtype", 0) not in (0, 2) and not node.input(2):
        raise Unsupported("output_dtype without a zero point is not supported")
    has_zp = bool(node.input(2))
    inputs = node.inputs[:3] if has_zp else node.inputs[:2]
    return QuantizeLinearOp(int(node.attr("axis", 1)), has_zp), inputs, node.outputs[:1]


@converter("DequantizeLinear")
def _dequantize_linear(node: Node, ctx: Any) -> Converted:
    _plain_per_axis(node)
    _check_elem(node, ctx, 0, (*_QTYPES, "int32"))
    has_zp = bool(node.input(2))
    inputs = node.inputs[:3] if has_zp else node.inputs[:2]
    return DequantizeLinearOp(int(node.attr("axis", 1)), has_zp), inputs, node.outputs[:1]


@converter("DynamicQuantizeLinear")
def _dynamic_quantize_linear(node: Node, ctx: Any) -> Converted:
    return DynamicQuantizeLinearOp(), node.inputs[:1], node.outputs[:3]


@converter("MatMulInteger")
def _matmul_integer(node: Node, ctx: Any) -> Converted:
    for index in range(4):
        _check_elem(node, ctx, index, ("uint8", "int8"))
    has_a, has_b = bool(node.input(2)), bool(node.input(3))
    inputs = node.inputs[:2] + [n for n in node.inputs[2:4] if n]
    return MatMulIntegerOp(has_a, has_b), inputs, node.outputs[:1]


@converter("QLinearMatMul")
def _qlinear_matmul(node: Node, ctx: Any) -> Converted:
    for index in (0, 2, 3, 5, 7):
        _check_elem(node, ctx, index, ("uint8", "int8"))
    return QLinearMatMulOp(), node.inputs[:8], node.outputs[:1]


__all__ = ["DequantizeLinearOp", "DynamicQuantizeLinearOp", "MatMulIntegerOp",
           "QLinearMatMulOp", "QuantizeLinearOp", "exact_matmul", "rint"]
