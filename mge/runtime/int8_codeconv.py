"""A quantized convolution of few input channels at batch 1 as a float ``Conv`` of the
codes, in the onnxruntime int8 lowering (:mod:`.int8_onnx`).

A network's first convolution reads the image's 3 channels: onnxruntime's
``QLinearConv`` builds a ``K = 27`` patch matrix per output pixel there and runs it several
times slower per multiply than its other convolutions, where its float ``Conv`` (a direct
NCHWc kernel that reads NCHW input) is fast. The codes become floats by a ``Cast`` (a
``DequantizeLinear`` there would let onnxruntime fuse ``DequantizeLinear -> Conv ->
QuantizeLinear`` into an inexact form of its own), their offset from the zero point goes
into the float bias (or a ``Sub`` where the conv pads), the integer filter is cast too:
every product and partial sum is an integer below ``2**24``, so the float accumulator is
the integer one exactly; ``QuantizeLinear`` at ``scale_y / (scale_x * scale_w)`` then
requantizes it (rounding ties to even, as ``QLinearConv`` does: within one step of
MegEngine; on photo crops the real MobileNetV2's first-conv codes equal both). Used at
batch 1 only: at batch 8 the float activation's extra passes (layout reorder, quantize)
cost more than the patch matrix saves (``bench/int8_profile.py``).

Example:
    >>> if code_conv_fits(low, node, filt, groups, bias): ...   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtype import code_zero_point, get_scale
from ..graph.ir import OpNode, VarNode
from ..ops.pooling import PoolingForward
from ..ops.quantized import ElemwiseMultiType

#: the most input channels and filter taps (channels x KH x KW) of a convolution run as a
#: float ``Conv``: an RGB image's 3x3 conv (MobileNetV2's; measured faster there, where
#: ResNet-18's 7x7 one is faster as ``QLinearConv``)
MAX_CHANNELS, MAX_TAPS = 3, 27
#: float32 represents every integer below this exactly
_EXACT = 1 << 24


def _pooled(low: Any, var: VarNode) -> bool:
    """Whether a pooling reads ``var`` or the clips (``ElemwiseMultiType``) of it: its
    onnxruntime kernel is channels-last only after a ``QLinearConv`` (after this form's
    NCHW output, ResNet-18's max pool ran 200 times slower)."""
    for user in low.users.get(var.id, []):
        if isinstance(user.op, PoolingForward) or (
                isinstance(user.op, ElemwiseMultiType) and _pooled(low, user.outputs[0])):
            return True
    return False


def code_conv_fits(low: Any, node: OpNode, filt: np.ndarray, groups: int,
                   bias: np.ndarray | None) -> bool:
    """Whether the quantized convolution ``node`` (ONNX filter ``filt``, int32 ``bias`` at
    the accumulator's scale) runs as a float ``Conv`` of its codes: batch 1, one group of
    at most :data:`MAX_CHANNELS` input channels and :data:`MAX_TAPS` taps, 8-bit input,
    no pooling after it, and every partial sum exact."""
    x = node.inputs[0]
    if len(x.shape) != 4 or x.shape[0] != 1 or groups != 1 or filt.shape[1] > MAX_CHANNELS \
            or filt[0].size > MAX_TAPS or x.dtype.itemsize != 1 \
            or _pooled(low, node.outputs[0]):
        return False
    # |codes| <= 255 and a zero point folded into the bias (<= 510 per filter tap)
    worst = np.abs(filt.astype(np.int64)).reshape(filt.shape[0], -1).sum(axis=1) * 766
    if bias is not None:
        worst = worst + np.abs(bias.astype(np.int64))
    return bool(worst.max() < _EXACT)


def emit_code_conv(low: Any, node: OpNode, name: str, filt: np.ndarray,
                   bias: np.ndarray | None, attrs: dict[str, Any], relu: bool,
                   out: str) -> None:
    """``node`` (see :func:`code_conv_fits`) on the codes ``name`` as a float ``Conv``
    (then ``Relu`` when ``relu``), requantized into ``out`` as its output travels."""
    from onnx import TensorProto

    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    # Cast (not DequantizeLinear, see the module) of the codes as they travel, q + offset
    codes = low.node("Cast", [name], to=TensorProto.FLOAT)
    offset = low.storage(x)[1] + code_zero_point(x.dtype)
    total = np.zeros(filt.shape[0], np.int64) if bias is None else bias.astype(np.int64)
    if offset and not any(attrs["pads"]):  # no padding: the offset's products in the bias
        total = total - offset * filt.astype(np.int64).reshape(filt.shape[0], -1).sum(axis=1)
    elif offset:  # the conv pads with 0: the codes less their offset
        codes = low.node("Sub", [codes, low.const(np.float32(offset), "zp")])
    inputs = [codes, low.const(filt.astype(np.float32), "w"),
              low.const(total.astype(np.float32), "b")]
    acc = low.node("Conv", inputs, **attrs)
    if relu:
        acc = low.node("Relu", [acc])
    step = np.float32(get_scale(x.dtype)) * np.float32(get_scale(w.dtype))  # as the bias's
    scale = np.float32(np.float64(np.float32(get_scale(y.dtype))) / np.float64(step))
    low.node("QuantizeLinear", [acc, low.const(scale, "s"), low.vq(y)[1]], out)


__all__ = ["MAX_CHANNELS", "MAX_TAPS", "code_conv_fits", "emit_code_conv"]
