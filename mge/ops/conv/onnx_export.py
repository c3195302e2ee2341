"""ONNX export rules of the convolutions (NCHW or NHWC, dense or grouped), and their
dynamic-batch rules.

ONNX's ``Conv``/``ConvTranspose`` want NCHW data and ``[oc, ic/g, kh, kw]`` filters:
NHWC data is transposed around the op, and filters are regrouped, transposed and (for
``mode=CONVOLUTION``) flipped, once at export time when they are constants.

Example:
    >>> ConvBiasForward.onnx_rule                                # doctest: +SKIP
    <function _conv_bias ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..batching import data_inputs
from ..elemwise.onnx_export import ELEMWISE
from ..registry import Unsupported, batch_rule, onnx_rule
from ..shape import Padding
from . import (
    ConvBase,
    ConvBiasForward,
    ConvolutionBackwardData,
    ConvolutionForward,
    canonical_filter,
)
from .conv3d import Convolution3DBackwardData, Convolution3DForward
from .deformable import DeformableConvForward

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode
    from ..pooling import PoolingForward

F32 = np.dtype("float32")
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


def _onnx_filter(op: ConvBase, w: Any) -> Any:
    """A MegEngine filter (numpy array or Sym) as ONNX's ``[g * ocpg, icpg, kh, kw]``."""
    g, ocpg, icpg, kh, kw = (w := canonical_filter(op, w)).shape
    return w.reshape((g * ocpg, icpg, kh, kw))


def _filter(ctx: ExportContext, node: OpNode, k: int, w: Sym, dtype: np.dtype) -> Sym:
    """Input ``k`` (the filter) in ONNX's layout and the compute ``dtype``."""
    op = node.op
    if (op.sparse, op.format, op.mode) == ("DENSE", "NCHW", "CROSS_CORRELATION"):
        return w.cast(dtype)
    value = ctx.const_value(node.inputs[k])
    if value is None:
        return _onnx_filter(op, w).cast(dtype)
    return ctx.derived_const(w, np.ascontiguousarray(_onnx_filter(op, value), dtype))


def _attrs(op: ConvBase, w: Sym, groups: int) -> dict[str, Any]:
    return {"kernel_shape": list(w.shape[2:]), "pads": [op.pad_h, op.pad_w] * 2,
            "strides": [op.stride_h, op.stride_w], "dilations": [op.dilate_h, op.dilate_w],
            "group": groups}


def _groups(op: ConvBase, filter_shape: tuple[int, ...]) -> int:
    return filter_shape[0] if op.sparse == "GROUP" else 1


def _compute_dtype(node: OpNode) -> np.dtype:
    """float32 when the op computes in float32 (``compute_mode``), else its dtype."""
    dtype = node.outputs[0].dtype
    return F32 if node.op.compute_mode == "FLOAT32" else dtype


def nchw(op: ConvBase | PoolingForward, x: Sym) -> Sym:
    """``x`` in NCHW (transposed from the op's NHWC)."""
    return x.transpose(TO_NCHW) if op.format == "NHWC" else x


def nchw_shape(op: ConvBase | PoolingForward, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` (in the op's format) in NCHW order."""
    return tuple(shape[p] for p in TO_NCHW) if op.format == "NHWC" else shape


def _padded_input(ctx: ExportContext, node: OpNode, x: Sym) -> tuple[Sym, list[int]]:
    """The data input and ONNX pads, taking in an explicit zero ``Padding`` of the
    spatial dims before the convolution (asymmetric "SAME" padding)."""
    op, src = node.op, node.inputs[0]
    pads = [op.pad_h, op.pad_w] * 2
    pad = src.owner
    spatial = (2, 3) if op.format == "NCHW" else (1, 2)
    if not isinstance(pad.op, Padding) or pad.op.padding_mode != "CONSTANT" or \
            pad.op.padding_val != 0:
        return x, pads
    widths = pad.op.pad_width(src.ndim)
    if any(widths[k] != (0, 0) for k in range(src.ndim) if k not in spatial):
        return x, pads
    (t, b), (left, r) = (widths[k] for k in spatial)
    return ctx.value_of(pad.inputs[0]), [pads[0] + t, pads[1] + left, pads[2] + b, pads[3] + r]


def _conv(ctx: ExportContext, node: OpNode, x: Sym, w: Sym, bias: Sym | None,
          dtype: np.dtype) -> Sym:
    """``Conv`` in NCHW; the result back in the op's format."""
    op = node.op
    filt = _filter(ctx, node, 1, w, dtype)
    shape = nchw_shape(op, node.outputs[0].shape)
    x, pads = _padded_input(ctx, node, x)
    inputs = [nchw(op, x.cast(dtype)), filt] + ([bias] if bias is not None else [])
    attrs = _attrs(op, filt, _groups(op, node.inputs[1].shape))
    y = ctx.emit("Conv", inputs, shape, dtype, **{**attrs, "pads": pads})
    return y.transpose(TO_NHWC) if op.format == "NHWC" else y


@onnx_rule(ConvolutionForward)
def _convolution(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    y = _conv(ctx, node, xs[0], xs[1], None, _compute_dtype(node))
    return [y.cast(node.outputs[0].dtype)]


@onnx_rule(ConvBiasForward)
def _conv_bias(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, out = node.op, node.outputs[0]
    dtype = _compute_dtype(node)
    oc = out.shape[1] if op.format == "NCHW" else out.shape[3]
    channel = (1, oc, 1, 1) if op.format == "NCHW" else (1, 1, 1, oc)
    addends = list(range(2, len(xs)))  # bias, then z: conv + bias + z
    # a per-channel addend goes into Conv's bias input, the bias when it is one, else z
    # (graphs fused from ``conv + residual + bias`` carry the residual as the bias): a
    # Conv followed by a single Add is what onnxruntime and OpenVINO fuse best
    inner = next((k for k in addends if xs[k].shape == channel), None)
    bias = None
    if inner is not None:
        value = ctx.const_value(node.inputs[inner])
        bias = xs[inner].reshape((oc,)).cast(dtype) if value is None else ctx.derived_const(
            xs[inner], value.reshape(oc).astype(dtype))
    y = _conv(ctx, node, xs[0], xs[1], bias, dtype)
    for k in addends:
        if k != inner:
            y = y + xs[k].cast(dtype)
    if op.nonlineMode == "RELU6" and dtype.kind == "f":  # the conv epilogue's mode
        y = y.op("Clip", ctx.const(np.array(0, dtype)), ctx.const(np.array(6, dtype)))
    elif op.nonlineMode != "IDENTITY":
        y = ELEMWISE[op.nonlineMode](y)
    return [y.cast(out.dtype)]


@onnx_rule(ConvolutionBackwardData)
def _conv_transpose(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, out = node.op, node.outputs[0]
    dtype = _compute_dtype(node)
    filt = _filter(ctx, node, 0, xs[0], dtype)
    shape = nchw_shape(op, out.shape)
    d_hw = nchw_shape(op, node.inputs[1].shape)[2:]
    geometry = zip(d_hw, filt.shape[2:], (op.stride_h, op.stride_w), (op.pad_h, op.pad_w),
                   (op.dilate_h, op.dilate_w), shape[2:], strict=True)
    extra = [o - ((d - 1) * s + (k - 1) * dl + 1 - 2 * p) for d, k, s, p, dl, o in geometry]
    y = ctx.emit("ConvTranspose", [nchw(op, xs[1].cast(dtype)), filt], shape, dtype,
                 output_padding=extra, **_attrs(op, filt, _groups(op, node.inputs[0].shape)))
    y = y.transpose(TO_NHWC) if op.format == "NHWC" else y
    return [y.cast(out.dtype)]


def _attrs3d(ctx: ExportContext, node: OpNode, k: int, w: Sym) -> tuple[Sym, dict[str, Any]]:
    """A 3-d convolution's filter (input ``k``) in ONNX's layout, and the attributes."""
    op = node.op
    value = ctx.const_value(node.inputs[k])
    g, ocpg, icpg, *kernel = op.canonical_filter(w).shape
    if value is not None:
        filt = ctx.derived_const(w, np.ascontiguousarray(
            op.canonical_filter(value).reshape(g * ocpg, icpg, *kernel)))
    else:
        filt = op.canonical_filter(w).reshape((g * ocpg, icpg, *kernel))
    return filt, {"kernel_shape": kernel, "pads": list(op.pads) * 2,
                  "strides": list(op.strides), "dilations": list(op.dilates), "group": g}


@onnx_rule(Convolution3DForward)
def _convolution3d(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    out = node.outputs[0]
    filt, attrs = _attrs3d(ctx, node, 1, xs[1])
    return [ctx.emit("Conv", [xs[0], filt], out.shape, out.dtype, **attrs)]


@onnx_rule(Convolution3DBackwardData)
def _conv_transpose3d(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, out = node.op, node.outputs[0]
    filt, attrs = _attrs3d(ctx, node, 0, xs[0])
    d_size = node.inputs[1].shape[2:]
    extra = [o - ((d - 1) * s + (k - 1) * dl + 1 - 2 * p) for d, k, s, p, dl, o in zip(
        d_size, attrs["kernel_shape"], op.strides, op.pads, op.dilates, out.shape[2:],
        strict=True)]
    return [ctx.emit("ConvTranspose", [xs[1], filt], out.shape, out.dtype,
                     output_padding=extra, **attrs)]


batch_rule(ConvolutionForward)(data_inputs(0))
batch_rule(ConvBiasForward)(data_inputs(0, 2, 3))
batch_rule(ConvolutionBackwardData)(data_inputs(1))
batch_rule(Convolution3DForward)(data_inputs(0))
batch_rule(Convolution3DBackwardData)(data_inputs(1))

__all__ = ["TO_NCHW", "TO_NHWC", "nchw", "nchw_shape"]


@onnx_rule(DeformableConvForward)
def _deformable_conv(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    """ONNX's ``DeformConv`` (opset 19): the same offsets (per deformable group and tap,
    ``(dy, dx)``), mask and bilinear sampling with zeros outside, in float32."""
    if ctx.opset < 19:
        raise Unsupported(f"ONNX's DeformConv needs opset 19 (exporting opset {ctx.opset})")
    op, out = node.op, node.outputs[0]
    x, w, offset, mask = xs
    filt = _filter(ctx, node, 1, w, F32)
    kernel = filt.shape[2:]
    y = ctx.emit("DeformConv", [x.cast(F32), filt, offset, None, mask], out.shape, F32,
                 **_attrs(op, filt, _groups(op, node.inputs[1].shape)),
                 offset_group=mask.shape[1] // (kernel[0] * kernel[1]))
    return [y.cast(out.dtype)]


from . import onnx_window  # noqa: E402,F401 - the window ops' rules
