"""Converters of the ``mge.qdq`` ops :func:`~.qdq_graph.rewrite_qdq` writes: MegEngine's
quantized graph form, traced and dumped as an int8 network is.

* ``QdqQuantize`` (attribute ``scale``): ``TypeCvt`` to ``qint8(scale)`` (from float32,
  or a requantization from another ``qint8``); ``QdqDequantize``: ``TypeCvt`` to float32;
* ``QdqConvBias`` (inputs: the ``qint8`` input, the weight's int8 codes, the bias's int32
  codes; ONNX ``Conv`` attributes, ``mode`` ``IDENTITY``/``RELU``, ``scale``,
  ``w_scale``, ``b_scale``): ``F.quantized.conv_bias_activation`` (an asymmetric pad
  first, as a ``Padding`` of the codes);
* ``QdqLinear`` (weight ``[out, in]``): an int8 ``F.linear`` to ``qint32``, the bias
  added, converted to ``qint8(scale)``, then the relu (mge's quantized ``Linear``);
* ``QdqAdd`` / ``QdqRelu`` (``mode``, ``scale``): ``ElemwiseMultiType``.

Example:
    >>> import mge, numpy as np
    >>> x = QuantizeOp(0.5)(None, mge.tensor([1.0, -0.75]))
    >>> x.numpy().tolist(), DequantizeOp()(None, x).numpy().tolist()
    ([2, -2], [1.0, -1.0])
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .... import functional as F
from ....dtype import qint8, qint32
from ....functional.elemwise import _elemwise_multi_type
from ....functional.quantized import conv_bias_activation
from ....tensor import Tensor
from .nn import PadWidth, _split_pads, window_attrs
from .node import Converted, Node, OnnxOp, converter
from .qdq_match import DOMAIN


@dataclasses.dataclass(frozen=True)
class QuantizeOp(OnnxOp):
    """``TypeCvt`` to ``qint8(scale)`` (MegEngine's rounding: ties away from zero)."""

    scale: float

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return F.elemwise.quantize(x, qint8(self.scale))


@dataclasses.dataclass(frozen=True)
class DequantizeOp(OnnxOp):
    """``TypeCvt`` of a quantized tensor to its float32 reals."""

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return F.elemwise.dequantize(x)


@dataclasses.dataclass(frozen=True)
class ConvBiasOp(OnnxOp):
    """MegEngine's quantized ``ConvBias`` on the module's ``qint8`` weight and ``qint32``
    bias, after an optional asymmetric pad of the codes."""

    weight: str
    bias: str | None
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    pad_width: PadWidth | None
    mode: str
    scale: float

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        if self.pad_width is not None:
            x = F.nn.pad(x, self.pad_width)
        bias = None if self.bias is None else getattr(mod, self.bias)
        return conv_bias_activation(x, getattr(mod, self.weight), bias, qint8(self.scale),
                                    self.stride, self.padding, self.dilation, self.groups,
                                    nonlinear_mode=self.mode.lower())


@dataclasses.dataclass(frozen=True)
class LinearOp(OnnxOp):
    """mge's quantized ``Linear``: int8 ``MatrixMul``, ``qint32`` bias, ``qint8`` result."""

    weight: str
    bias: str | None
    mode: str
    scale: float

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        bias = None if self.bias is None else getattr(mod, self.bias)
        y = F.linear(x, getattr(mod, self.weight), bias).astype(qint8(self.scale))
        return F.relu(y) if self.mode == "RELU" else y


@dataclasses.dataclass(frozen=True)
class ElemwiseMultiTypeOp(OnnxOp):
    """MegEngine's ``ElemwiseMultiType`` ``mode`` with output ``qint8(scale)``."""

    mode: str
    scale: float

    def __call__(self, mod: Any, *xs: Tensor) -> Tensor:
        return _elemwise_multi_type(*xs, mode=self.mode, dtype=qint8(self.scale))


@converter("QdqQuantize", domain=DOMAIN)
def _quantize(node: Node, ctx: Any) -> Converted:
    return QuantizeOp(float(node.attr("scale"))), node.inputs[:1], node.outputs[:1]


@converter("QdqDequantize", domain=DOMAIN)
def _dequantize(node: Node, ctx: Any) -> Converted:
    return DequantizeOp(), node.inputs[:1], node.outputs[:1]


def _params(node: Node, ctx: Any, out_ch: int) -> tuple[str, str | None]:
    """The module attributes of the weight (``qint8``) and bias (``qint32``) codes."""
    codes = ctx.const(node.input(1), f"{node.op_type} weight")
    groups = int(node.attr("group", 1))
    if groups > 1:  # MegEngine's grouped layout [groups, out / groups, in / groups, kh, kw]
        codes = codes.reshape(groups, out_ch // groups, *codes.shape[1:])
    w_attr = ctx.attribute(node.input(1), codes.astype(qint8(float(node.attr("w_scale")))))
    if not node.input(2):
        return w_attr, None
    bias = ctx.const(node.input(2), f"{node.op_type} bias").astype(
        qint32(float(node.attr("b_scale"))))
    shape = (1, out_ch, 1, 1) if node.op_type == "QdqConvBias" else (out_ch,)
    return w_attr, ctx.attribute(node.input(2), bias.reshape(shape))


@converter("QdqConvBias", domain=DOMAIN)
def _conv_bias(node: Node, ctx: Any) -> Converted:
    codes = ctx.const(node.input(1), "QdqConvBias weight")
    kernel = list(node.attr("kernel_shape", codes.shape[2:]))
    strides, dilations, pads = window_attrs(node, ctx, kernel)
    w_attr, b_attr = _params(node, ctx, codes.shape[0])
    padding, pad_width = _split_pads(pads)
    op = ConvBiasOp(w_attr, b_attr, tuple(strides), padding, tuple(dilations),
                    int(node.attr("group", 1)), pad_width, node.attr("mode"),
                    float(node.attr("scale")))
    return op, node.inputs[:1], node.outputs[:1]


@converter("QdqLinear", domain=DOMAIN)
def _linear(node: Node, ctx: Any) -> Converted:
    out_ch = ctx.const(node.input(1), "QdqLinear weight").shape[0]
    w_attr, b_attr = _params(node, ctx, out_ch)
    op = LinearOp(w_attr, b_attr, node.attr("mode"), float(node.attr("scale")))
    return op, node.inputs[:1], node.outputs[:1]


@converter("QdqAdd", "QdqRelu", domain=DOMAIN)
def _elemwise(node: Node, ctx: Any) -> Converted:
    op = ElemwiseMultiTypeOp(node.attr("mode"), float(node.attr("scale")))
    return op, node.inputs, node.outputs[:1]


__all__ = ["ConvBiasOp", "DequantizeOp", "ElemwiseMultiTypeOp", "LinearOp", "QuantizeOp"]
