"""ONNX's integer convolutions ``ConvInteger`` and ``QLinearConv`` (1-d and 2-d), imported
with their exact integer semantics on plain integer tensors.

Both centre the input and the weight on their zero points (the input's padding is its
zero point, so the centred input is padded with 0) and accumulate in int32. The products
are computed by float32 convolutions only while every partial sum stays below 2**24
(exact whatever the summation order): a longer reduction splits the weight into two
base-16 digits (two exact convolutions, summed in int32), and one too long even then is
refused at run time, never rounded. ``QLinearConv`` requantizes as onnxruntime does on
x86: ``float32(acc + bias) * float32(x_scale * w_scale / y_scale)``, rounded half to
even, plus the output zero point, saturated.

Example:
    >>> import mge, numpy as np
    >>> op = ConvIntegerOp((1, 1), (1, 1), (0, 0, 0, 0), 1, True, False)
    >>> x = mge.tensor(np.arange(9, dtype=np.uint8).reshape(1, 1, 3, 3))
    >>> w = mge.tensor(np.ones((1, 1, 2, 2), np.uint8))
    >>> op(None, x, w, mge.tensor(np.uint8(1))).numpy()[0, 0]
    array([[ 4,  8],
           [16, 20]], dtype=int32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .nn import lift_1d, window_attrs
from .node import Converted, Node, OnnxOp, Unsupported, converter
from .quantized import _EXACT, _bound, _centered, _range, rint

_INT8 = ("uint8", "int8")


@dataclasses.dataclass(frozen=True)
class ConvIntegerOp(OnnxOp):
    """``int32(conv(x - x_zero_point, w - w_zero_point))`` (2-d; a 1-d node is lifted)."""

    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...]
    group: int
    has_x_zero_point: bool
    has_w_zero_point: bool

    def accumulate(self, x: Tensor, w: Tensor, x_zp: Tensor | None, w_zp: Tensor | None,
                   what: str) -> Tensor:
        """The int32 accumulator of the centred integer convolution."""
        lifted = x.ndim == 3
        xc, wc = _centered(x, x_zp, 1), _centered(w, w_zp, 0)
        if lifted:
            xc, wc = F.expand_dims(xc, 2), F.expand_dims(wc, 2)
        if xc.ndim != 4 or wc.ndim != 4:
            raise ValueError(f"{what}: only 1-d and 2-d convolutions are supported, got "
                             f"input {x.shape} and weight {w.shape}")
        nd = 2
        begin, end = self.pads[:nd], self.pads[nd:]
        if any(begin) or any(end):
            xc = F.nn.pad(xc, ((0, 0), (0, 0), *zip(begin, end)))
        groups = self.group
        if groups > 1:
            wc = wc.reshape(groups, wc.shape[0] // groups, *wc.shape[1:])
        k = int(np.prod(w.shape[1:]))
        x_bound, w_bound = _bound(x.dtype), _bound(w.dtype)

        def conv(weight: Tensor) -> Tensor:
            out = F.nn.conv2d(xc, weight, None, self.strides, 0, self.dilations, groups)
            return F.astype(out, "int32")

        if k * x_bound * w_bound < _EXACT:
            acc = conv(wc)
        elif k * x_bound * 16.0 < _EXACT:
            high = F.floor(wc / 16.0)
            acc = conv(high) * 16 + conv(wc - high * 16.0)
        else:
            raise ValueError(f"{what}: a reduction over {k} products of {x.dtype} and "
                             f"{w.dtype} values is longer than mge computes exactly")
        return F.squeeze(acc, 2) if lifted else acc

    def __call__(self, mod: Any, x: Tensor, w: Tensor, *zps: Tensor) -> Tensor:
        left = list(zps)
        x_zp = left.pop(0) if self.has_x_zero_point else None
        w_zp = left.pop(0) if self.has_w_zero_point else None
        return self.accumulate(x, w, x_zp, w_zp, "ConvInteger")


@dataclasses.dataclass(frozen=True)
class QLinearConvOp(OnnxOp):
    """``saturate(rint(float32(acc + B) * (x_scale * w_scale / y_scale)) + y_zero_point)``."""

    conv: ConvIntegerOp
    has_bias: bool

    def __call__(self, mod: Any, x: Tensor, x_scale: Tensor, x_zp: Tensor, w: Tensor,
                 w_scale: Tensor, w_zp: Tensor, y_scale: Tensor, y_zp: Tensor,
                 *bias: Tensor) -> Tensor:
        acc = self.conv.accumulate(x, w, x_zp, w_zp, "QLinearConv")
        shape = [1] * acc.ndim
        shape[1] = -1
        if self.has_bias:
            acc = acc + F.astype(bias[0], "int32").reshape(shape)
        scale = F.astype(x_scale, "float32").reshape(()) * F.astype(w_scale, "float32")
        multiplier = scale / F.astype(y_scale, "float32").reshape(())
        multiplier = multiplier.reshape(shape) if multiplier.ndim == 1 else multiplier
        qmin, qmax = _range(y_zp.dtype, "QLinearConv")
        y = rint(F.astype(acc, "float32") * multiplier)
        y = y + F.astype(y_zp, "float32").reshape(())
        return F.astype(F.clip(y, float(qmin), float(qmax)), np.dtype(y_zp.dtype).name)


def _check_elem(node: Node, ctx: Any, index: int, allowed: tuple[str, ...]) -> None:
    dtype = ctx.dtypes.get(node.input(index)) if node.input(index) else None
    if dtype is not None and np.dtype(dtype).name not in allowed:
        raise Unsupported(f"{node.op_type} input {index} ({node.input(index)!r}) is "
                          f"{np.dtype(dtype).name}; mge imports {', '.join(allowed)}")


def _conv_attrs(node: Node, ctx: Any, w_index: int, x_zp_index: int, w_zp_index: int
                ) -> ConvIntegerOp:
    """The window of an integer convolution node (its weight's shape must be static)."""
    shape = ctx.static_shape(node.input(w_index))
    if shape is None:
        raise Unsupported(f"{node.op_type} needs the weight's static shape")
    if len(shape) == 3:
        node, shape = lift_1d(node), (*shape[:2], 1, shape[2])
    kernel = list(node.attr("kernel_shape", shape[2:]))
    strides, dilations, pads = window_attrs(node, ctx, kernel, (2,))
    return ConvIntegerOp(tuple(strides), tuple(dilations), tuple(pads),
                         int(node.attr("group", 1)), bool(node.input(x_zp_index)),
                         bool(node.input(w_zp_index)))


@converter("ConvInteger")
def _conv_integer(node: Node, ctx: Any) -> Converted:
    for index in range(4):
        _check_elem(node, ctx, index, _INT8)
    op = _conv_attrs(node, ctx, 1, 2, 3)
    inputs = node.inputs[:2] + [n for n in node.inputs[2:4] if n]
    return op, inputs, node.outputs[:1]


@converter("QLinearConv")
def _qlinear_conv(node: Node, ctx: Any) -> Converted:
    for index in (0, 2, 3, 5, 7):
        _check_elem(node, ctx, index, _INT8)
    _check_elem(node, ctx, 8, ("int32",))
    has_bias = bool(node.input(8))
    op = QLinearConvOp(_conv_attrs(node, ctx, 3, 2, 5), has_bias)
    return op, node.inputs[:9 if has_bias else 8], node.outputs[:1]


__all__ = ["ConvIntegerOp", "QLinearConvOp"]
